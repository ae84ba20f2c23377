"""Composition across processes: a remote module that is down is its part's error entry,
fast once its breaker is open, and the other parts still arrive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from litestar.testing import AsyncTestClient

from app.kernel.rpc.service_tokens import create_key_pair
from app.kernel.settings import Settings
from app.main import create_app
from tests.conftest import upgrade_all

Auth = Callable[..., dict[str, str]]
NOBODY = "http://127.0.0.1:9"  # discard: nothing answers there


async def test_a_remote_module_that_is_down_is_one_error_part(
    sqlite_settings: Settings, auth: Auth, redis_url: str, redis_prefix: str
) -> None:
    await upgrade_all(sqlite_settings)
    create_key_pair(sqlite_settings.data_dir / "keys", "edge")
    environ = {
        "BULKHEAD_BUS_URL": redis_url,
        "BULKHEAD_SERVICE_NAME": "edge",
        "BULKHEAD_RPC_BREAKER_FAILURES": "2",
    }
    settings = replace(
        sqlite_settings,
        remotes={"rag": NOBODY},
        redis_key_prefix=redis_prefix,
        environ=environ,
        groups={},
    )
    admin = auth("root", admin=True)
    async with AsyncTestClient(create_app(settings)) as client:
        for _ in range(3):  # two failures open the breaker; the third fails fast
            board = (await client.get("/v1/dashboard", headers=admin)).json()
        parts = board["parts"]
        assert not parts["rag"]["ok"] and parts["rag"]["error"].startswith("CircuitOpen: ")
        assert parts["conversation"]["ok"] and parts["memory"]["ok"] and parts["billing"]["ok"]
        assert parts["rag"]["latency_ms"] < 100  # the open breaker answers at once
        search = await client.post("/v1/search", json={"query": "tea"}, headers=admin)
        assert search.status_code == 503  # the public route, served through the client
        health = (await client.get("/v1/admin/health", headers=admin)).json()
        assert "remote:rag" in str(health) and "breaker open" in str(health)
        session = await client.post("/v1/sessions", json={}, headers=auth("alice"))
        assert session.status_code == 201  # what does not need RAG is untouched
