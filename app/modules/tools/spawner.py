"""Start a child that holds exactly the descriptors we give it, whatever the event loop.

uvloop's `create_subprocess_exec` (which uvicorn runs on) hands a child every inheritable
descriptor of the server — with several workers, the listening socket. So the sandbox is
never started through the loop's subprocess support: `subprocess.Popen` with
`close_fds=True` closes everything but stdin, stdout, stderr and `pass_fds` between fork
and exec (close_range), and the loop only watches the pipes and a pidfd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence


class Child:
    """A running child: its pipes as asyncio streams, its exit as an awaitable."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._exit: int | None = None

    async def wait(self) -> int:
        """The exit status, or minus the signal that ended it."""
        if self._exit is None:
            pidfd = os.pidfd_open(self.pid)
            try:
                loop = asyncio.get_running_loop()
                exited: asyncio.Future[None] = loop.create_future()

                def on_exit() -> None:
                    if not exited.done():
                        exited.set_result(None)

                loop.add_reader(pidfd, on_exit)
                try:
                    await exited
                finally:
                    loop.remove_reader(pidfd)
            finally:
                os.close(pidfd)
            self._exit = self._reap()
        return self._exit

    def kill_group(self) -> None:
        """SIGKILL the child's process group (it leads one: start_new_session)."""
        if self._exit is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def _reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self._popen.returncode = code  # so Popen never waits for a pid that is gone
        return code

    def close(self) -> None:
        """Kill and reap if still running; close the pipes. Safe to call twice."""
        if self._exit is None:
            self.kill_group()
            with contextlib.suppress(ChildProcessError):
                self._exit = self._reap()
        self.stdin.close()
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None:
                stream.close()


async def spawn(argv: Sequence[str], *, pass_fds: Sequence[int] = ()) -> Child:
    """Start `argv` in a new session with pipes on 0, 1, 2 and `pass_fds`, nothing else."""
    # Popen is what asyncio's own subprocess transport calls from the loop too: a fork+exec.
    popen = subprocess.Popen(  # noqa: S603, ASYNC220  # argv is ours, not a shell line
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
    )
    assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
    loop = asyncio.get_running_loop()
    try:
        stdout = await _reader(loop, popen.stdout)
        stderr = await _reader(loop, popen.stderr)
        transport, protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), popen.stdin
        )
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        raise
    stdin = asyncio.StreamWriter(transport, protocol, None, loop)
    return Child(popen, stdin, stdout, stderr)


async def _reader(loop: asyncio.AbstractEventLoop, pipe: object) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader
