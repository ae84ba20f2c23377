"""Contract tests, twice: against the in-process service and through the HTTP client
against a real `bulkhead serve --modules X` on the same databases.

A module's test fixture asks for `contract_under_test(...)`; the `over-http` variant starts
the module's own server process (signing keys made for the test) and hands back a
`RemoteModule`, so every test of the suite runs against both and asserts the same things.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from app.kernel.rpc.client import RemoteModule
from app.kernel.rpc.service_tokens import ServiceSigner, create_key_pair
from app.kernel.rpc.settings import RpcSettings
from app.kernel.settings import Settings
from tests.e2e.test_server import start_server

MODES = ["in-process", "over-http"]
CALLER = "contract-tests"  # a service allowed to call every module (it composes)


@asynccontextmanager
async def served_remotely(
    module: str, protocol: type, settings: Settings, env: Mapping[str, str] = {}
) -> AsyncIterator[RemoteModule]:
    """`module` served by its own process on `settings`' databases, and a client of it."""
    keys = settings.data_dir / "keys"
    if not (keys / f"{CALLER}.key").exists():
        create_key_pair(keys, CALLER)
    server_env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(settings.data_dir),
        "BULKHEAD_JWT_SECRET": str(settings.jwt_secret),
        "BULKHEAD_EMBEDDING_MODEL": settings.embedding_model,
        "BULKHEAD_MODULES": module,
        "BULKHEAD_LOG_LEVEL": "WARNING",
        **env,
    }
    if settings.database_urls:
        urls = settings.data_dir / "urls.json"
        urls.write_text(json.dumps(dict(settings.database_urls)))
        server_env["BULKHEAD_DATABASE_URLS_FILE"] = str(urls)
    for base in start_server(server_env, 1):
        signer = ServiceSigner(keys, CALLER, ["composition"])
        client = RemoteModule(module, protocol, base, signer, RpcSettings(timeout_s=30))
        try:
            yield client
        finally:
            await client.close()
