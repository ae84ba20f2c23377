"""The command line that builds a sandbox: bubblewrap's mounts and namespaces, in order.

What a tool sees is decided here, argument by argument: `/usr` read-only, a fresh `/proc`
with the host's boot line and memory figures blanked, a read-only `/dev` with a small
`/dev/shm`, a small `/tmp`, no network, no environment, the seccomp filter, and the entry
script that reads the source from its memory file. `ps` shows a digest, never the source.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .cgroup import RunGroup

ENTRY_SCRIPT = (Path(__file__).parent / "sandbox_entry.py").read_text()


def bwrap_argv(
    *,
    bwrap: str,
    python: str,
    shm_bytes: int,
    tmp_bytes: int,
    rlimits: dict[str, tuple[int, int]],
    source_fd: int,
    filter_fd: int | None,
    label: str,
) -> list[str]:
    return [
        bwrap,
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc",
        *_hidden_proc_files(),
        "--dev", "/dev",
        "--size", str(shm_bytes), "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",  # not recursive: /dev/shm and the device nodes stay usable
        "--size", str(tmp_bytes), "--tmpfs", "/tmp",
        "--chdir", "/tmp",
        "--unshare-all", "--unshare-user", "--disable-userns",
        "--die-with-parent", "--new-session",
        "--hostname", "sandbox",
        "--clearenv",
        "--setenv", "PATH", "/usr/bin",
        "--setenv", "HOME", "/tmp",
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PYTHONIOENCODING", "utf-8",
        *(["--seccomp", str(filter_fd)] if filter_fd is not None else []),
        python, "-I", "-S", "-c", ENTRY_SCRIPT,
        json.dumps(rlimits), str(source_fd), label,
    ]  # fmt: skip


def source_label(source: str) -> str:
    """What `ps` shows of a run's tool: a digest of its source, never the source."""
    return "tool-" + hashlib.sha256(source.encode()).hexdigest()[:16]


def _hidden_proc_files() -> list[str]:
    # The host's boot line and memory figures are none of a tool's business.
    hidden = []
    for path in ("/proc/cmdline", "/proc/meminfo"):
        hidden += ["--dev-bind", "/dev/null", path]  # dev-bind: a plain bind is nodev
    return hidden


def cgroup_gate(group: RunGroup | None) -> list[str]:
    """A shell that moves itself into the run's cgroups, then execs the sandbox.

    Joining before the exec means bwrap and everything it forks start inside the group;
    moving the pid in from outside after the start would race with bwrap's first fork.
    """
    if group is None:
        return []
    script = 'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *map(str, group.procs_files), "--"]
