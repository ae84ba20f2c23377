"""Run untrusted Python in a bubblewrap sandbox: no network, read-only system, hard limits.

Inside: `/usr` read-only (with the usual `/bin`, `/lib` links), a fresh `/proc` and `/dev`,
and an empty size-capped tmpfs at `/tmp` as the working dir. Nothing else of the host
exists there: not `/etc`, not the data dir, not the project. New user, PID, network, IPC,
UTS and cgroup namespaces (the network one has no interface but a down loopback), no
nested user namespaces, a new session, a cleared environment. The entry script then sets
hard rlimits on CPU time, address space, processes, file size and open files. The host
kills the whole process tree on the wall-clock limit or when output passes its limit; when
the tool's main process ends, the sandbox's PID 1 ends and the kernel kills what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY_SCRIPT = (Path(__file__).parent / "sandbox_entry.py").read_text()
PROBE_TTL_S = 30.0
_KILL_GRACE_S = 2.0


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float  # wall clock; CPU time is capped at the same number of seconds
    memory_mb: int  # address space
    max_output_bytes: int  # each of stdout and stderr
    max_processes: int = 32
    tmp_mb: int = 16  # the tmpfs, which is memory outside the address-space limit
    max_file_mb: int = 8
    max_open_files: int = 64

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
    cpu_ms: int | None  # None when the tool ended before reporting
    max_rss_kb: int | None


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    reason: str | None = None
    version: str | None = None


class Sandbox:
    def __init__(self, *, bwrap: str, python: str, uid: int) -> None:
        self._bwrap = shutil.which(bwrap)
        self._bwrap_name = bwrap
        self._python = python
        # As root, RLIMIT_NPROC does not apply, so sandboxes run as an unprivileged uid.
        # `setpriv` switches to it: uvloop's subprocesses take no user/group arguments.
        self._uid = uid if os.geteuid() == 0 else None
        self._setpriv = shutil.which("setpriv")
        self._status: tuple[float, SandboxStatus] | None = None

    async def status(self) -> SandboxStatus:
        """Whether sandboxes can run here: a real trial run, cached for a while."""
        now = time.monotonic()
        if self._status is None or now - self._status[0] > PROBE_TTL_S:
            self._status = (now, await self._probe())
        return self._status[1]

    async def run(self, source: str, stdin: bytes, limits: SandboxLimits) -> SandboxRun:
        if self._bwrap is None or (self._uid is not None and self._setpriv is None):
            raise FileNotFoundError(self._bwrap_name if self._bwrap is None else "setpriv")
        report_read, report_write = os.pipe()
        started = time.perf_counter()
        spawning = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *self._command(source, limits, report_write),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(report_write,),
                start_new_session=True,  # one process group to kill
            )
        )
        try:
            # Shielded: a call cancelled while the process starts must still kill it.
            process = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                _kill_tree(await spawning)
            os.close(report_read)
            raise
        finally:
            os.close(report_write)
        try:
            return await self._supervise(process, stdin, limits, started, report_read)
        except BaseException:
            _kill_tree(process)  # cancelled (the caller went away) or broken: leave nothing
            raise
        finally:
            os.close(report_read)

    async def _supervise(
        self,
        process: asyncio.subprocess.Process,
        stdin: bytes,
        limits: SandboxLimits,
        started: float,
        report_fd: int,
    ) -> SandboxRun:
        assert process.stdout is not None and process.stderr is not None
        overflow = asyncio.Event()
        feeding = asyncio.create_task(_feed(process, stdin))
        stdout = asyncio.create_task(_capture(process.stdout, limits.max_output_bytes, overflow))
        stderr = asyncio.create_task(_capture(process.stderr, limits.max_output_bytes, overflow))
        exited = asyncio.create_task(process.wait())
        overflowed = asyncio.create_task(overflow.wait())
        done, _ = await asyncio.wait(
            {exited, overflowed}, timeout=limits.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        timed_out = not done
        if exited not in done:
            _kill_tree(process)
        try:
            await asyncio.wait_for(asyncio.gather(exited, stdout, stderr), _KILL_GRACE_S)
        finally:
            overflowed.cancel()
            feeding.cancel()
        duration_ms = (time.perf_counter() - started) * 1000
        usage = _read_report(report_fd)
        return SandboxRun(
            exit_code=exited.result(),
            timed_out=timed_out,
            output_limited=overflow.is_set() and not timed_out,
            memory_error=bool(usage.get("memory_error")),
            stdout=stdout.result(),
            stderr=stderr.result(),
            duration_ms=duration_ms,
            cpu_ms=usage.get("cpu_ms"),
            max_rss_kb=usage.get("max_rss_kb"),
        )

    def _command(self, source: str, limits: SandboxLimits, report_fd: int) -> list[str]:
        assert self._bwrap is not None
        return [
            *self._identity(),
            self._bwrap,
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
            "--chdir", "/tmp",
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session",
            "--hostname", "sandbox",
            "--clearenv",
            "--setenv", "PATH", "/usr/bin",
            "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONIOENCODING", "utf-8",
            self._python, "-I", "-S", "-c", ENTRY_SCRIPT,
            json.dumps(limits.rlimits()), str(report_fd), source,
        ]  # fmt: skip

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
        process = await asyncio.create_subprocess_exec(
            self._bwrap, "--version", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        return out.decode().strip() or None


async def _feed(process: asyncio.subprocess.Process, data: bytes) -> None:
    assert process.stdin is not None
    # A tool that never reads its stdin, or exits first, is not an error.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()


async def _capture(stream: asyncio.StreamReader, limit: int, overflow: asyncio.Event) -> Captured:
    digest, size, head = hashlib.sha256(), 0, bytearray()
    while chunk := await stream.read(65_536):
        size += len(chunk)
        digest.update(chunk)
        head += chunk[: max(0, limit - len(head))]
        if size > limit:
            overflow.set()  # the supervisor kills the tool; read on to the end of the pipe
    return Captured(head=bytes(head), size=size, sha256=digest.hexdigest())


def _kill_tree(process: asyncio.subprocess.Process) -> None:
    # Killing bwrap kills the sandbox's PID 1 (die-with-parent), and with it every process
    # in the sandbox's PID namespace, whatever session or group they moved to.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _read_report(fd: int) -> dict[str, Any]:
    """What the entry script wrote before exiting; never waits for more."""
    os.set_blocking(fd, False)
    try:
        data = json.loads(os.read(fd, 4096) or b"{}")
    except (BlockingIOError, ValueError):
        return {}  # a tool that wrote to the report fd itself gets no resource figures
    return data if isinstance(data, dict) else {}
