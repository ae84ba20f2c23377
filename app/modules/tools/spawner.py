"""Start a child that holds exactly the descriptors we give it, whatever the event loop.

uvloop's `create_subprocess_exec` (which uvicorn runs on) hands a child every inheritable
descriptor of the server — with several workers, the listening socket. So the sandbox is
never started through the loop's subprocess support: `subprocess.Popen` with
`close_fds=True` closes everything but stdin, stdout, stderr and `pass_fds` between fork
and exec (close_range). The pipes are made here and their parent ends owned here (read
and written through `add_reader`/`add_writer`, closed exactly once), and the exit is
watched through a pidfd: no loop's pipe transport shares a descriptor with a file object,
so none is ever closed twice (a second close can hit a number another run reuses).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

_CHUNK = 65_536


class Child:
    """A running child: stdin to write, stdout and stderr as streams, its exit awaitable."""

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> None:
        self.pid = pid
        self._loop = asyncio.get_running_loop()
        self._stdin_fd: int | None = stdin_fd
        self._read_fds: list[int] = [stdout_fd, stderr_fd]
        self.stdout = self._stream(stdout_fd)
        self.stderr = self._stream(stderr_fd)
        self._exit: int | None = None

    async def feed(self, data: bytes) -> None:
        """Write `data` to stdin and close it; a child that stops reading is no error."""
        fd = self._stdin_fd
        if fd is None:
            return
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(fd, view[:_CHUNK]) :]
                except BlockingIOError:
                    await self._writable(fd)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self._close_stdin()

    async def wait(self) -> int:
        """The exit status, or minus the signal that ended it."""
        if self._exit is None:
            pidfd = os.pidfd_open(self.pid)
            try:
                exited: asyncio.Future[None] = self._loop.create_future()
                self._loop.add_reader(pidfd, _settle, exited)
                try:
                    await exited
                finally:
                    self._loop.remove_reader(pidfd)
            finally:
                os.close(pidfd)
            if self._exit is None:
                self._exit = self._reap()
        return self._exit

    def kill_group(self) -> None:
        """SIGKILL the child's process group (it leads one: start_new_session)."""
        if self._exit is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill and reap if still running; close every descriptor once. Safe to call twice."""
        if self._exit is None:
            self.kill_group()
            with contextlib.suppress(ChildProcessError):
                self._exit = self._reap()
        self._close_stdin()
        for fd in self._read_fds:
            self._loop.remove_reader(fd)
            os.close(fd)
        self._read_fds = []

    def _reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _stream(self, fd: int) -> asyncio.StreamReader:
        reader = asyncio.StreamReader(limit=2**20)

        def on_readable() -> None:
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                reader.feed_data(data)
            else:
                self._loop.remove_reader(fd)
                reader.feed_eof()

        os.set_blocking(fd, False)
        self._loop.add_reader(fd, on_readable)
        return reader

    async def _writable(self, fd: int) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()
        self._loop.add_writer(fd, _settle, ready)
        try:
            await ready
        finally:
            self._loop.remove_writer(fd)

    def _close_stdin(self) -> None:
        if self._stdin_fd is not None:
            self._loop.remove_writer(self._stdin_fd)
            os.close(self._stdin_fd)
            self._stdin_fd = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def spawn(argv: Sequence[str], *, pass_fds: Sequence[int] = ()) -> Child:
    """Start `argv` in a new session with pipes on 0, 1, 2 and `pass_fds`, nothing else."""
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    child_ends = (stdin_read, stdout_write, stderr_write)
    ours = (stdin_write, stdout_read, stderr_read)
    try:
        # Popen is what asyncio's own subprocess transport calls from the loop too. It does
        # not own these descriptors (given as numbers), so it never closes ours.
        popen = subprocess.Popen(  # noqa: S603, ASYNC220  # argv is ours, not a shell line
            list(argv),
            stdin=stdin_read,
            stdout=stdout_write,
            stderr=stderr_write,
            close_fds=True,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
        )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in child_ends:
            os.close(fd)
    popen.returncode = 0  # reaped by Child, never by Popen (its __del__ must not wait)
    os.set_blocking(stdin_write, False)
    return Child(popen.pid, stdin_write, stdout_read, stderr_read)
