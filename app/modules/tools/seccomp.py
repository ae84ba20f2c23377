"""The sandbox's seccomp filter: Unix and IP sockets only (no netlink, packet...), no io_uring.

The sandbox's network namespace has no interface, but a tool could still open netlink
sockets (and read or probe the kernel's network and audit state) or packet sockets, and
io_uring can open sockets past a filter on `socket`. bubblewrap installs a classic BPF
program passed with `--seccomp FD` before it execs the tool, so the tool cannot lift it.
The program is sixteen instructions: written here rather than through libseccomp, whose
Python binding is not on PyPI, and short enough to read whole.
"""

from __future__ import annotations

import errno
import platform
import socket
import struct

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: load a 32-bit word of seccomp_data
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO | errno
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (args[0]: its low word)
_IO_URING = (425, 426, 427)  # setup, enter, register: the same on every arch below
_X32_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, __NR_socket)
_ARCHES = {
    "x86_64": (0xC000003E, 41),
    "aarch64": (0xC00000B7, 198),
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def socket_filter() -> bytes | None:
    """The compiled filter for this machine, or None where its syscall numbers are unknown."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit_arch, nr_socket = arch
    no_such_call, no_such_family = _ERRNO | errno.ENOSYS, _ERRNO | errno.EAFNOSUPPORT
    # Jumps count instructions skipped: from index i, a jump of n lands on i + 1 + n.
    return b"".join(
        [
            _op(_LD_W_ABS, _ARCH),  # 0
            _op(_JEQ_K, audit_arch, jt=1),  # 1: another ABI (i386 calls) is refused whole
            _op(_RET_K, no_such_call),  # 2
            _op(_LD_W_ABS, _NR),  # 3
            _op(_JGE_K, _X32_BIT, jt=9),  # 4: x32 calls -> 14
            _op(_JEQ_K, _IO_URING[0], jt=8),  # 5: io_uring -> 14
            _op(_JEQ_K, _IO_URING[1], jt=7),  # 6
            _op(_JEQ_K, _IO_URING[2], jt=6),  # 7
            _op(_JEQ_K, nr_socket, jf=6),  # 8: any other call -> 15
            _op(_LD_W_ABS, _ARG0),  # 9: socket(family, ...)
            _op(_JEQ_K, socket.AF_UNIX, jt=4),  # 10 -> 15
            _op(_JEQ_K, socket.AF_INET, jt=3),  # 11 -> 15 (the namespace has no interface)
            _op(_JEQ_K, socket.AF_INET6, jt=2),  # 12 -> 15
            _op(_RET_K, no_such_family),  # 13
            _op(_RET_K, no_such_call),  # 14
            _op(_RET_K, _ALLOW),  # 15
        ]
    )
