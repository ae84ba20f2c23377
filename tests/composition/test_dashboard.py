"""Composed reads: parallel parts, each with its own timeout; failures stay local."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.composition.dashboard import dashboard
from app.kernel.settings import Settings
from app.main import create_app
from contracts.record import Contracts
from tests.conftest import events_settled

Auth = Callable[..., dict[str, str]]
NOW = datetime.now(UTC)


class Stats:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    async def stats(self, *, since: datetime, until: datetime) -> Any:
        if self.behaviour == "hangs":
            await asyncio.sleep(3600)
        if self.behaviour == "fails":
            raise RuntimeError("disk on fire")
        return {"since": since.isoformat()}


async def test_slow_and_failing_parts_do_not_hold_up_the_rest() -> None:
    behaviours = {
        "conversation": "hangs",
        "rag": "hangs",
        "tools": "hangs",
        "memory": "fails",
        "billing": "answers",
    }
    contracts = Contracts.none_running()
    for name, behaviour in behaviours.items():
        contracts = contracts.with_service(name, Stats(behaviour))
    started = time.perf_counter()
    result = await dashboard(contracts, NOW - timedelta(hours=1), NOW, timeout_s=1.0)
    elapsed = time.perf_counter() - started
    # Three hanging parts one after another would take 3 s; together, one timeout.
    assert elapsed < 2.5
    parts = result.parts
    assert [parts[n].error for n in ("conversation", "rag", "tools")] == ["no answer within 1s"] * 3
    assert parts["memory"].error == "failed: RuntimeError"
    assert parts["billing"].ok and parts["billing"].data == {
        "since": (NOW - timedelta(hours=1)).isoformat()
    }
    assert all(p.latency_ms >= 0 for p in parts.values())


async def test_dashboard_over_http_has_every_module(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    assert (await client.get("/v1/dashboard", headers=auth("alice"))).status_code == 403
    response = await client.get("/v1/dashboard?range=1h", headers=auth("root", admin=True))
    assert response.status_code == 200
    parts = response.json()["parts"]
    assert set(parts) == {
        "conversation",
        "rag",
        "tools",
        "memory",
        "billing",
        "analytics",
        "events",
    }
    assert all(p["ok"] for p in parts.values()), parts
    assert parts["events"]["data"]["consistency_lag_s"] >= 0
    assert parts["analytics"]["data"]["retrieval"]["searches"] == 0


async def test_a_module_not_running_here_is_unavailable_not_a_crash(
    sqlite_settings: Settings, auth: Auth
) -> None:
    from tests.conftest import upgrade_all

    await upgrade_all(sqlite_settings)
    settings = replace(sqlite_settings, modules=("tools", "conversation", "rag"))
    async with AsyncTestClient(create_app(settings)) as client:
        board = await client.get("/v1/dashboard", headers=auth("root", admin=True))
        session = await client.post("/v1/sessions", json={}, headers=auth("alice"))
    parts = board.json()["parts"]
    assert parts["memory"] == {
        "ok": False,
        "latency_ms": 0.0,
        "error": "the memory module is not enabled here",
    }
    assert parts["conversation"]["ok"]
    assert (session.status_code, session.json()["code"]) == (503, "SagasUnavailable")


async def test_session_context_in_one_call(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    alice = auth("alice")
    await client.post(
        "/v1/memories", json={"content": "Allergic to peanuts", "importance": 0.9}, headers=alice
    )
    session = (await client.post("/v1/sessions", json={"title": "dinner"}, headers=alice)).json()
    for content in ("Book a table for tonight", "Anything without peanuts please"):
        await client.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"role": "user", "content": content},
            headers=alice,
        )
    await events_settled(client)
    context = await client.get(f"/v1/sessions/{session['id']}/context?messages=1", headers=alice)
    assert context.status_code == 200
    body = context.json()
    assert body["session"]["id"] == session["id"]
    assert [m["content"] for m in body["parts"]["messages"]["data"]] == [
        "Anything without peanuts please"
    ]
    # The saga seeded the working memory with the user's most important memory; the
    # memory module added each message as a turn when its event arrived.
    working = body["parts"]["working_memory"]["data"]["items"]
    assert [(i["kind"], i["content"]) for i in working] == [
        ("fact", "Allergic to peanuts"),
        ("turn", "Book a table for tonight"),
        ("turn", "Anything without peanuts please"),
    ]
    recalled = body["parts"]["memories"]["data"]["items"]
    assert recalled[0]["entry"]["content"] == "Allergic to peanuts"
    other = await client.get(f"/v1/sessions/{session['id']}/context", headers=auth("bob"))
    assert other.status_code == 404
