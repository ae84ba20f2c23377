"""A control group per sandbox run: its memory (tmpfs pages included), processes and CPU time.

Per-process rlimits bound one process's address space; a tool that forks, or fills a
tmpfs, is only bounded by their sum. Where the server may create cgroups (cgroup v2 with
the memory and pids controllers delegated to it, or v1 hierarchies it can write), each
run gets its own group: memory capped at the tool's limit plus its tmpfs sizes, no swap,
processes at its limit. The group is also where the host reads, from the kernel, what the
sandbox used (CPU time, peak memory) and whether it was killed for memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "pids", "cpuacct")


@dataclass(frozen=True)
class Usage:
    cpu_ms: int
    peak_memory_kb: int
    oom_killed: bool


@dataclass(frozen=True)
class RunGroup:
    """One run's group: one dir on v2, one per controller on v1 (memory, pids, cpuacct)."""

    dirs: tuple[Path, ...]
    v2: bool

    @property
    def procs_files(self) -> list[Path]:
        """Where the spawner's gate writes the child's pid, once in each hierarchy."""
        return [d / "cgroup.procs" for d in self.dirs]

    def usage(self) -> Usage:
        if self.v2:
            (group,) = self.dirs
            cpu_ms = _fields(group / "cpu.stat").get("usage_usec", 0) // 1000
            peak = _number(group / "memory.peak")
            oom = _fields(group / "memory.events").get("oom_kill", 0)
        else:
            memory, _, cpuacct = self.dirs
            cpu_ms = _number(cpuacct / "cpuacct.usage") // 1_000_000
            peak = _number(memory / "memory.max_usage_in_bytes")
            oom = _fields(memory / "memory.oom_control").get("oom_kill", 0)
        return Usage(cpu_ms=cpu_ms, peak_memory_kb=peak >> 10, oom_killed=oom > 0)

    def kill_all(self) -> None:
        """SIGKILL every process in the group: a stopped run leaves nothing, even a process
        that escaped bubblewrap's die-with-parent (it forked before that was set)."""
        for procs in self.procs_files:
            with contextlib.suppress(OSError, ValueError):
                for pid in map(int, procs.read_text().split()):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the group's dirs; False while a killed process is still being torn down."""
        removed = True
        for directory in self.dirs:
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


@dataclass(frozen=True)
class CgroupParent:
    """Where run groups are made."""

    dirs: tuple[Path, ...]
    v2: bool

    def describe(self) -> str:
        return f"cgroup {'v2' if self.v2 else 'v1'} under {self.dirs[0]}"

    def create(self, *, memory_bytes: int, max_processes: int) -> RunGroup:
        name = f"bulkhead-sandbox-{uuid.uuid4().hex}"
        group = RunGroup(dirs=tuple(d / name for d in self.dirs), v2=self.v2)
        try:
            for directory in group.dirs:
                directory.mkdir()
            memory, pids = group.dirs[0], group.dirs[0] if self.v2 else group.dirs[1]
            if self.v2:
                _write(memory / "memory.max", memory_bytes)
                _write(memory / "memory.swap.max", 0)
            else:
                _write(memory / "memory.limit_in_bytes", memory_bytes)
                swap = memory / "memory.memsw.limit_in_bytes"
                if swap.exists():  # only where swap accounting is on
                    _write(swap, memory_bytes)
            _write(pids / "pids.max", max_processes)
        except BaseException:
            group.remove()
            raise
        return group


def find_parent(configured: str) -> CgroupParent | None:
    """`auto`: the first place this process may really use; `off`; or a v2 cgroup dir."""
    if configured == "off":
        return None
    if configured != "auto":
        return CgroupParent(dirs=(Path(configured),), v2=True)
    for candidate in (_v2_parent(), _v1_parent()):
        if candidate is not None and _usable(candidate):
            return candidate
    return None


def _v2_parent() -> CgroupParent | None:
    own = _own_path("")
    if own is None or not (CGROUP_ROOT / "cgroup.controllers").exists():
        return None
    directory = CGROUP_ROOT / own.lstrip("/")
    with contextlib.suppress(OSError):
        delegated = (directory / "cgroup.subtree_control").read_text().split()
        if {"memory", "pids"} <= set(delegated):
            return CgroupParent(dirs=(directory,), v2=True)
    return None


def _v1_parent() -> CgroupParent | None:
    dirs = []
    for controller in _V1_CONTROLLERS:
        own, mount = _own_path(controller), CGROUP_ROOT / controller
        if own is None or not (mount / "cgroup.procs").exists():
            return None
        dirs.append(mount / own.lstrip("/"))
    return CgroupParent(dirs=tuple(dirs), v2=False)


def _own_path(controller: str) -> str | None:
    """This process's group in the hierarchy of `controller` ("" for the v2 one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(",") or controller == controllers == "":
                return path
    return None


def _usable(parent: CgroupParent) -> bool:
    """Whether a group can really be made and removed there (permissions, read-only mounts)."""
    try:
        parent.create(memory_bytes=64 << 20, max_processes=8).remove()
    except OSError:
        return False
    return True


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


def _number(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def _fields(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split() for line in lines)
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}
