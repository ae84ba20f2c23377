"""Contract tests, twice: against the in-process service and through the HTTP client
against a real `bulkhead serve --modules X` on the same databases.

A module's test fixture asks for `served_remotely(...)` in its `over-http` variant: the
module's own server process (with signing keys made for the test) and a `RemoteModule`
client of it, so every test of the suite runs against both and asserts the same things.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Generator, Mapping
from contextlib import asynccontextmanager

from app.kernel.rpc.client import RemoteModule
from app.kernel.rpc.service_tokens import ServiceSigner, create_key_pair
from app.kernel.rpc.settings import RpcSettings
from app.kernel.settings import Settings
from tests.e2e.test_server import free_port, start_server

MODES = ["in-process", "over-http"]
CALLER = "contract-tests"  # a service allowed to call every module (it composes)


class ModuleServer:
    """`bulkhead serve --modules X` on `settings`' databases, on a port that survives a
    restart (so a client keeps its base URL while the process dies and comes back)."""

    def __init__(self, module: str, settings: Settings, env: Mapping[str, str] = {}) -> None:
        self.module = module
        self.settings = settings
        self.port = free_port()
        self.env = {
            "PATH": os.environ["PATH"],
            "BULKHEAD_DATA_DIR": str(settings.data_dir),
            "BULKHEAD_JWT_SECRET": str(settings.jwt_secret),
            "BULKHEAD_EMBEDDING_MODEL": settings.embedding_model,
            "BULKHEAD_MODULES": module,
            "BULKHEAD_LOG_LEVEL": "WARNING",
            **env,
        }
        if settings.database_urls:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            urls = settings.data_dir / "urls.json"
            urls.write_text(json.dumps(dict(settings.database_urls)))
            self.env["BULKHEAD_DATABASE_URLS_FILE"] = str(urls)
        self._running: Generator[str, None, None] | None = None

    def start(self) -> str:
        self._running = start_server(self.env, 1, self.port)
        return next(self._running)

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()  # SIGTERM, and waits for the process to end
            self._running = None

    def client(self, protocol: type) -> RemoteModule:
        keys = self.settings.data_dir / "keys"
        if not (keys / f"{CALLER}.key").exists():
            create_key_pair(keys, CALLER)
        signer = ServiceSigner(keys, CALLER, ["composition"])
        base = f"http://127.0.0.1:{self.port}"
        return RemoteModule(self.module, protocol, base, signer, RpcSettings(timeout_s=30))


@asynccontextmanager
async def served_remotely(
    module: str, protocol: type, settings: Settings, env: Mapping[str, str] = {}
) -> AsyncIterator[RemoteModule]:
    """`module` served by its own process on `settings`' databases, and a client of it."""
    server = ModuleServer(module, settings, env)
    client = server.client(protocol)  # keys first: the server reads them on first call
    server.start()
    try:
        yield client
    finally:
        await client.close()
        server.stop()
