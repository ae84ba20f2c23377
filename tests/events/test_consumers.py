"""Consumers: each event applied once (inbox), a poison event dead-lettered after its
attempts while the rest keep flowing, and resubmitted once its handler is fixed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.events.redis_streams import RedisStreamsBus
from app.kernel.events.settings import EventsSettings
from app.kernel.settings import Settings
from app.main import create_app
from contracts.conversation import SessionCreated
from contracts.events import Event, EventEnvelope
from tests.conftest import events_settled

from .conftest import Modules, RecordingBus, sessions_counted

Auth = Callable[..., dict[str, str]]


class Poison:
    """Wraps a handler: fails on the events it is told to, until cured."""

    def __init__(self, handler: Callable[..., object]) -> None:
        self.handler = handler
        self.poisoned: set[str] = set()  # aggregate ids or user ids
        self.failures = 0

    async def __call__(self, tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
        if self.poisoned & {envelope.aggregate_id, envelope.user_id}:
            self.failures += 1
            raise ValueError(f"cannot read session {envelope.aggregate_id}")
        await self.handler(tx, event, envelope)  # type: ignore[misc]  # a test handler wraps any handler


def poison_analytics(modules: Modules, system: object, monkeypatch: pytest.MonkeyPatch) -> Poison:
    consumer = system.consumers["analytics"]  # type: ignore[attr-defined]  # a test reaches into the system
    key = (SessionCreated.TYPE, SessionCreated.VERSION)
    poison = Poison(consumer._handlers[key])
    monkeypatch.setitem(consumer._handlers, key, poison)
    return poison


async def test_a_redelivered_event_changes_nothing(modules: Modules) -> None:
    await modules.write_sessions_created(5, aggregates=5, user="alice")
    bus = RecordingBus()
    system = modules.events(bus)
    await system.drain()
    consumer = system.consumers["analytics"]
    assert [await consumer.apply(e) for e in bus.published] == [False] * 5
    await bus.publish(bus.published[:5])  # the bus delivers them all again
    assert await sessions_counted(modules) == 5


async def test_a_poison_event_is_dead_lettered_and_the_rest_keep_flowing(
    modules: Modules, monkeypatch: pytest.MonkeyPatch
) -> None:
    await modules.write_sessions_created(6, aggregates=6, user="alice")
    bus = RecordingBus()
    system = modules.events(bus, max_attempts=3)
    poison = poison_analytics(modules, system, monkeypatch)
    poison.poisoned.add(
        bus_target := (await modules.contracts.conversation.replay_events()).items[2].aggregate_id
    )

    await system.drain()
    assert poison.failures == 1 + 3  # in its batch, then its own attempts; then set aside
    assert await sessions_counted(modules) == 5  # the others were applied
    (letter,) = await system.dead_letters()
    assert letter.consumer == "analytics" and letter.attempts == 3
    assert letter.envelope.aggregate_id == bus_target
    assert "ValueError: cannot read session" in letter.error
    assert (await system.status()).dead_letters["analytics"] == 1
    health = await system.component_health()
    assert not health["dead_letters"].ok
    # Other consumers never saw trouble.
    assert (await system.status()).dead_letters["memory"] == 0

    # Resubmitting while it still fails keeps the letter, with one more attempt.
    with pytest.raises(Exception, match="still fails"):
        await system.resubmit("analytics", letter.id)
    (letter,) = await system.dead_letters()
    assert letter.attempts == 4

    poison.poisoned.clear()  # the handler is fixed
    resolved = await system.resubmit("analytics", letter.id)
    assert resolved.resolved_at is not None
    assert await sessions_counted(modules) == 6
    assert await system.dead_letters() == []
    assert len(await system.dead_letters(include_resolved=True)) == 1
    # Resubmitting again applies nothing twice.
    await system.resubmit("analytics", letter.id)
    assert await sessions_counted(modules) == 6


async def test_dead_letter_admin_routes(
    settings: Settings, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings.with_values(EventsSettings, max_attempts=2, backoff_s=0.01))
    async with AsyncTestClient(app=app) as client:
        system = app.state.events
        poison = poison_analytics(None, system, monkeypatch)  # type: ignore[arg-type]  # the helper does not use the fixture it is given
        admin = auth("root", admin=True)
        poison.poisoned.add("mallory")
        session = (await client.post("/v1/sessions", json={}, headers=auth("mallory"))).json()
        await client.post("/v1/sessions", json={}, headers=auth("alice"))
        await events_settled(client)

        assert (
            await client.get("/v1/admin/events/dead-letters", headers=auth("alice"))
        ).status_code == 403
        listed = await client.get("/v1/admin/events/dead-letters?consumer=analytics", headers=admin)
        assert listed.status_code == 200
        letters = listed.json()
        (letter,) = letters
        assert letter["consumer"] == "analytics"
        assert letter["envelope"]["aggregate_id"] == session["id"]
        # The poison held up nobody: alice's session was counted.
        report = (await client.get("/v1/analytics/report?range=1d", headers=admin)).json()
        assert [u["user_id"] for u in report["top_users"]] == ["alice"]
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["components"]["events.dead_letters"]["ok"] is False

        letter_id = letters[0]["id"]
        still = await client.post(
            f"/v1/admin/events/dead-letters/analytics/{letter_id}/resubmit", headers=admin
        )
        assert still.status_code == 409 and "still fails" in still.json()["detail"]
        poison.poisoned.clear()
        for letter in letters:
            done = await client.post(
                f"/v1/admin/events/dead-letters/analytics/{letter['id']}/resubmit", headers=admin
            )
            assert done.status_code == 200 and done.json()["resolved_at"] is not None
        missing = await client.post(
            f"/v1/admin/events/dead-letters/analytics/{session['id']}/resubmit", headers=admin
        )
        assert missing.status_code == 404
        unknown = await client.post(
            f"/v1/admin/events/dead-letters/nobody/{letter_id}/resubmit", headers=admin
        )
        assert unknown.status_code == 404
        types = (await client.get("/v1/admin/events/types", headers=admin)).json()
        by_name = {(t["type"], t["version"]): t for t in types}
        appended = by_name[("MessageAppended", 1)]
        assert appended["aggregate_type"] == "session"
        schema = appended["payload_schema"]["$defs"]["MessageAppended"]
        assert {"user_id", "session_id", "content", "seq"} <= set(schema["required"])
        assert ("UserDeletionRequested", 1) in by_name
        status = (await client.get("/v1/admin/events", headers=admin)).json()
        assert status["dead_letters"]["analytics"] == 0
        assert status["consistency_lag_s"] == 0.0
        report = (await client.get("/v1/analytics/report?range=1d", headers=admin)).json()
        assert sum(day["sessions_created"] for day in report["days"]) == 2


async def test_redis_streams_reclaimed_events_are_applied_once(
    modules: Modules, redis_url: str, redis_prefix: str
) -> None:
    """A process died after applying some of the events it had read, before acknowledging
    any: another reclaims all of them, and only the rest change the model."""
    await modules.write_sessions_created(10, aggregates=10, user="alice")
    bus = RedisStreamsBus(redis_url, redis_prefix, claim_idle_s=0.2)
    system = modules.events(bus)
    await bus.create_group("analytics")
    await system.drain()  # onto the stream
    client = redis.Redis.from_url(redis_url)
    taken: Any = await client.xreadgroup(  # redis-py types its reply as a union of shapes
        "analytics", "doomed", {bus.stream: ">"}, count=10
    )
    assert len(taken[0][1]) == 10
    consumer = system.consumers["analytics"]
    for _entry_id, fields in taken[0][1][:4]:  # it applied four, then died
        await consumer.apply(msgspec.json.decode(fields[b"envelope"], type=EventEnvelope))
    assert await sessions_counted(modules) == 4

    await asyncio.sleep(0.25)
    await bus.consume_once("analytics", consumer.deliver_batch, block_ms=10)
    assert await sessions_counted(modules) == 10
    assert (await client.xpending(bus.stream, "analytics"))["pending"] == 0
    await client.aclose()
