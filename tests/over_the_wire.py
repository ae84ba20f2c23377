"""Contract tests, twice: against the in-process service and through the HTTP client
against a real server of the module on the same databases.

A module's test fixture asks for `served_remotely(...)` in its `over-http` variant: a real
HTTP server of that module (signing keys made for the test) and a `RemoteModule` client of
it, so every test of the suite runs against both and asserts the same things.
`ModuleServer` is the same as a `bulkhead serve` process, for tests that kill it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import uvicorn
from litestar import Litestar

from app.kernel.app_factory import BoundModule, build_app, close_modules
from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.rpc.client import RemoteModule
from app.kernel.rpc.service_tokens import ServiceSigner, create_key_pair
from app.kernel.rpc.settings import RpcSettings
from app.kernel.rpc.wiring import service_verifier
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.sagas import SAGA_STORE
from contracts.record import Contracts
from tests.e2e.test_server import free_port, start_server

T = TypeVar("T")
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


class InThreadServer:
    """A real uvicorn server of `app` on a socket of its own, run on its own event loop in
    a thread: real HTTP, real service tokens, and no process to start (a second per test
    that a contract suite of dozens of tests cannot afford)."""

    def __init__(self, app: Litestar) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="module-server")

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@asynccontextmanager
async def contract_under_test(
    mode: str,
    module: str,
    service: T,
    database: ModuleDatabase,
    settings: Settings,
    beside: Sequence[BoundModule] = (),
) -> AsyncIterator[T]:
    """What a module's contract tests call, in `mode`: the service itself, or a client of its
    contract served over real HTTP by the app a `bulkhead serve --modules X` process builds
    around this same service (its clock and the stand-ins it was given included, and the
    modules `beside` it in that process). Either way they are all closed afterwards."""
    bound = [BoundModule(_module_named(module), database, service), *beside]
    if mode == "in-process":
        try:
            yield service
        finally:
            await close_modules(bound)
        return
    keys = settings.data_dir / "keys"
    if not (keys / f"{CALLER}.key").exists():
        create_key_pair(keys, CALLER)
    contracts = Contracts.none_running().with_service(module, service)
    verifier = service_verifier(settings, REGISTRY)
    app = build_app(settings, bound, contracts, rpc_verifier=verifier)
    with InThreadServer(app) as base:  # its shutdown closes them, on the server's own loop
        signer = ServiceSigner(keys, CALLER, ["composition"])
        client = RemoteModule(
            module, bound[0].module.contract, base, signer, RpcSettings(timeout_s=30)
        )
        try:
            yield cast(T, client)  # it has exactly the Protocol's methods
        finally:
            await client.close()


def _module_named(name: str) -> Module:
    return SAGA_STORE if name == SAGA_STORE.name else REGISTRY[name]


@asynccontextmanager
async def served_remotely(
    module: str, protocol: type, settings: Settings, env: Mapping[str, str] = {}
) -> AsyncIterator[RemoteModule]:
    """`module` served by a `bulkhead serve` process of its own on `settings`' databases,
    and a client of it: a real second process, for benchmarks of the wire."""
    server = ModuleServer(module, settings, env)
    client = server.client(protocol)  # keys first: the server reads them on first call
    server.start()
    try:
        yield client
    finally:
        await client.close()
        server.stop()
