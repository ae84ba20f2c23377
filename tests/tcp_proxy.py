"""A TCP proxy on a free loopback port, for the failure a refused connection cannot show:
a server that accepts and then never answers.

It passes bytes both ways until `hang()`; from then on it accepts connections and reads
what they send but passes nothing on, either way, on new and open connections alike.
`resume()` drops the connections it held (as a network that comes back after a partition
would leave them) and passes bytes again. It runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._held: set[asyncio.StreamWriter] = set()
        self.port = 0

    def start(self) -> TcpProxy:
        self._thread.start()
        started: Future[asyncio.Server] = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def hang(self) -> None:
        self._loop.call_soon_threadsafe(self._resumed.clear)

    def resume(self) -> None:
        def resume_now() -> None:
            for writer in self._held:
                writer.close()
            self._held.clear()
            self._resumed.set()

        self._loop.call_soon_threadsafe(resume_now)

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for writer in self._held:
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._resumed.is_set():
            self._held.add(writer)
            await self._drain_until_resumed(reader)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        self._held.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer, writer), self._pipe(up_reader, writer, up_writer)
        )

    async def _pipe(
        self, source: asyncio.StreamReader, target: asyncio.StreamWriter, own: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await source.read(65536):
                if not self._resumed.is_set():  # hung: swallow it, answer nothing
                    await self._drain_until_resumed(source)
                    return
                target.write(data)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            target.close()
            own.close()

    async def _drain_until_resumed(self, source: asyncio.StreamReader) -> None:
        """Read and drop what the client sends, so it never sees a full buffer or a reset:
        exactly a server that has stopped answering."""
        while not self._resumed.is_set():
            try:
                chunk = await asyncio.wait_for(source.read(65536), timeout=0.1)
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                return
            if not chunk:
                return
