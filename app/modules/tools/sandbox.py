"""Run untrusted Python in a bubblewrap sandbox: no network, read-only system, hard limits.

Inside: `/usr` read-only (with the usual `/bin`, `/lib` links), a fresh `/proc` (without
the host's boot line and memory figures), a read-only `/dev` with a 1 MB `/dev/shm`, and
an empty 16 MB tmpfs at `/tmp` as the working dir. Nothing else of the host exists there:
not `/etc`, not the data dir, not the project, not one of the server's descriptors (the
spawner closes all but stdin, stdout and stderr). New user, PID, network, IPC, UTS and
cgroup namespaces (the network one has no interface but a down loopback), no nested user
namespaces, Unix and IP sockets only (seccomp), a new session, a cleared
environment. The source arrives in a memory file, never on a command line. The entry
script sets hard rlimits on CPU time, address space, processes, file size and open files;
where the server may make cgroups, the sandbox's memory and processes are also capped as a
whole. The host kills the whole process tree on the wall-clock limit or when output passes
its limit; when the tool's main process ends, the sandbox's PID 1 ends and the kernel kills
what is left. CPU time and peak memory are the kernel's figures, read from the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import time
from dataclasses import dataclass

from .cgroup import RunGroup, find_parent
from .sandbox_command import bwrap_argv, cgroup_gate, source_label
from .seccomp import socket_filter
from .spawner import Child, spawn

MEMORY_ERROR_EXIT = 86  # sandbox_entry.py's exit status after a MemoryError
PROBE_TTL_S = 30.0
_KILL_GRACE_S = 2.0


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float  # wall clock; CPU time is capped at the same number of seconds
    memory_mb: int  # address space
    max_output_bytes: int  # each of stdout and stderr
    max_processes: int = 32
    tmp_mb: int = 16  # the tmpfs, which is memory outside the address-space limit
    shm_mb: int = 1  # /dev/shm, likewise
    max_file_mb: int = 8
    max_open_files: int = 64

    @property
    def sandbox_memory_bytes(self) -> int:
        """The whole sandbox's memory where a cgroup counts it: the tool's and its tmpfs."""
        return (self.memory_mb + self.tmp_mb + self.shm_mb) << 20

    def rlimits(self) -> dict[str, tuple[int, int]]:
        cpu = max(1, int(self.timeout_s + 0.999))
        return {
            "RLIMIT_CPU": (cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL one second on
            "RLIMIT_AS": (self.memory_mb << 20, self.memory_mb << 20),
            "RLIMIT_NPROC": (self.max_processes, self.max_processes),
            "RLIMIT_FSIZE": (self.max_file_mb << 20, self.max_file_mb << 20),
            "RLIMIT_NOFILE": (self.max_open_files, self.max_open_files),
            "RLIMIT_CORE": (0, 0),
        }


@dataclass(frozen=True)
class Captured:
    head: bytes  # at most the output limit
    size: int  # everything read before the stream ended or the tool was stopped
    sha256: str


@dataclass(frozen=True)
class SandboxRun:
    exit_code: int  # bwrap's: the tool's code, or 128 + signal
    timed_out: bool
    output_limited: bool
    memory_error: bool
    stdout: Captured
    stderr: Captured
    duration_ms: float
    # The kernel's figures for the whole sandbox, read from its cgroup (never the tool's
    # word); None where no cgroup counts them.
    cpu_ms: int | None
    max_rss_kb: int | None


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    reason: str | None = None
    version: str | None = None


class Sandbox:
    def __init__(self, *, bwrap: str, python: str, uid: int, cgroup: str = "auto") -> None:
        self._bwrap = shutil.which(bwrap)
        self._bwrap_name = bwrap
        self._python = python
        # As root, RLIMIT_NPROC does not apply, so sandboxes run as an unprivileged uid.
        # `setpriv` switches to it: the spawner takes no user/group arguments.
        self._uid = uid if os.geteuid() == 0 else None
        self._setpriv = shutil.which("setpriv")
        self._cgroups = find_parent(cgroup)
        self._seccomp = socket_filter()
        self._status: tuple[float, SandboxStatus] | None = None

    @property
    def memory_accounting(self) -> str:
        """How a sandbox's memory is bounded as a whole, for /health."""
        if self._cgroups is not None:
            return self._cgroups.describe()
        return "per-process rlimits only (no writable cgroup)"

    async def status(self) -> SandboxStatus:
        """Whether sandboxes can run here: a real trial run, cached for a while."""
        now = time.monotonic()
        if self._status is None or now > self._status[0]:
            status = await self._probe()
            # A failure is probed again soon: a slow start under load must not hold for long.
            self._status = (now + (PROBE_TTL_S if status.available else 2.0), status)
        return self._status[1]

    async def run(self, source: str, stdin: bytes, limits: SandboxLimits) -> SandboxRun:
        if self._bwrap is None or (self._uid is not None and self._setpriv is None):
            raise FileNotFoundError(self._bwrap_name if self._bwrap is None else "setpriv")
        group = None
        if self._cgroups is not None:
            group = self._cgroups.create(
                memory_bytes=limits.sandbox_memory_bytes, max_processes=limits.max_processes
            )
        # The source and the filter travel in memory files, not on a command line `ps` shows.
        source_fd = _memory_file("tool-source", source.encode())
        filter_fd = _memory_file("seccomp", self._seccomp) if self._seccomp else None
        fds = (source_fd,) if filter_fd is None else (source_fd, filter_fd)
        started = time.perf_counter()
        try:
            argv = self._command(source, limits, source_fd, filter_fd, group)
            # Shielded: a call cancelled while the process starts must still kill it.
            spawning = asyncio.ensure_future(spawn(argv, pass_fds=fds))
            try:
                child = await asyncio.shield(spawning)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    (await spawning).close()
                raise
            finally:
                for fd in fds:
                    os.close(fd)
            try:
                return await self._supervise(child, stdin, limits, started, group)
            finally:
                child.close()  # cancelled (the caller went away) or broken: leave nothing
        finally:
            if group is not None:
                group.kill_all()
                for _ in range(50):  # the kernel tears killed processes down in a moment
                    if group.remove():
                        break
                    await asyncio.sleep(0.01)

    async def _supervise(
        self,
        child: Child,
        stdin: bytes,
        limits: SandboxLimits,
        started: float,
        group: RunGroup | None,
    ) -> SandboxRun:
        overflow = asyncio.Event()
        feeding = asyncio.create_task(child.feed(stdin))
        stdout = asyncio.create_task(_capture(child.stdout, limits.max_output_bytes, overflow))
        stderr = asyncio.create_task(_capture(child.stderr, limits.max_output_bytes, overflow))
        exited = asyncio.create_task(child.wait())
        overflowed = asyncio.create_task(overflow.wait())
        done, _ = await asyncio.wait(
            {exited, overflowed}, timeout=limits.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        timed_out = not done
        if exited not in done:
            child.kill_group()
        try:
            await asyncio.wait_for(asyncio.gather(exited, stdout, stderr), _KILL_GRACE_S)
        finally:
            overflowed.cancel()
            feeding.cancel()
        duration_ms = (time.perf_counter() - started) * 1000
        code = exited.result()
        usage = group.usage() if group is not None else None
        return SandboxRun(
            exit_code=code,
            timed_out=timed_out,
            output_limited=overflow.is_set() and not timed_out,
            memory_error=code == MEMORY_ERROR_EXIT or (usage is not None and usage.oom_killed),
            stdout=stdout.result(),
            stderr=stderr.result(),
            duration_ms=duration_ms,
            cpu_ms=usage.cpu_ms if usage else None,
            max_rss_kb=usage.peak_memory_kb if usage else None,
        )

    def _command(
        self,
        source: str,
        limits: SandboxLimits,
        source_fd: int,
        filter_fd: int | None,
        group: RunGroup | None,
    ) -> list[str]:
        assert self._bwrap is not None
        return [
            *cgroup_gate(group),
            *self._identity(),
            *bwrap_argv(
                bwrap=self._bwrap,
                python=self._python,
                shm_bytes=limits.shm_mb << 20,
                tmp_bytes=limits.tmp_mb << 20,
                rlimits=limits.rlimits(),
                source_fd=source_fd,
                filter_fd=filter_fd,
                label=source_label(source),
            ),
        ]

    def _identity(self) -> list[str]:
        if self._uid is None:
            return []
        assert self._setpriv is not None
        uid = str(self._uid)
        return [self._setpriv, "--reuid", uid, "--regid", uid, "--clear-groups", "--"]

    async def _probe(self) -> SandboxStatus:
        if self._bwrap is None:
            return SandboxStatus(
                available=False,
                reason=f"{self._bwrap_name!r} not found: install bubblewrap (apt-get install bubblewrap)",
            )
        if self._uid is not None and self._setpriv is None:
            return SandboxStatus(
                available=False,
                reason="the server runs as root and needs setpriv (util-linux) to run sandboxes "
                "as BULKHEAD_SANDBOX_UID",
            )
        if not os.access(self._python, os.X_OK):
            return SandboxStatus(
                available=False,
                reason=f"{self._python} (BULKHEAD_SANDBOX_PYTHON) is not an executable Python",
            )
        limits = SandboxLimits(timeout_s=10, memory_mb=256, max_output_bytes=4096)
        try:
            run = await self.run("print('ok')", b"", limits)
        except OSError as exc:
            return SandboxStatus(available=False, reason=f"cannot start bwrap: {exc}")
        if run.exit_code != 0 or run.stdout.head.strip() != b"ok":
            said = run.stderr.head.decode(errors="replace").strip().splitlines()
            problem = said[-1] if said else f"exit code {run.exit_code}"
            return SandboxStatus(
                available=False, reason=f"bwrap cannot create a sandbox: {problem}"
            )
        return SandboxStatus(available=True, version=await self._version())

    async def _version(self) -> str | None:
        assert self._bwrap is not None
        child = await spawn([self._bwrap, "--version"])
        try:
            out = await child.stdout.read()
            await child.wait()
        finally:
            child.close()
        return out.decode().strip() or None


async def _capture(stream: asyncio.StreamReader, limit: int, overflow: asyncio.Event) -> Captured:
    digest, size, head = hashlib.sha256(), 0, bytearray()
    while chunk := await stream.read(65_536):
        size += len(chunk)
        digest.update(chunk)
        head += chunk[: max(0, limit - len(head))]
        if size > limit:
            overflow.set()  # the supervisor kills the tool; read on to the end of the pipe
    return Captured(head=bytes(head), size=size, sha256=digest.hexdigest())


def _memory_file(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)  # close-on-exec: only the spawner's pass_fds hands it on
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
