"""One contract, two buses: in-process and Redis Streams behave alike for consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.kernel.events.bus import EventBus, InProcessBus
from app.kernel.events.redis_streams import RedisStreamsBus
from app.kernel.events.settings import EventsSettings
from app.kernel.settings import Settings
from app.main import create_app
from contracts.events import EventEnvelope


def envelope(aggregate: str, position: int) -> EventEnvelope:
    return EventEnvelope(
        id=uuid.uuid4(),
        source="test",
        position=position,
        type="SessionCreated",
        version=1,
        aggregate_type="session",
        aggregate_id=aggregate,
        user_id="alice",
        occurred_at=datetime.now(UTC),
        payload={
            "session_id": str(uuid.uuid4()),
            "title": None,
            "created_at": "2026-01-01T00:00:00Z",
        },
    )


@pytest.fixture(params=["in-process", "redis-streams"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "in-process":
        yield InProcessBus()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    yield RedisStreamsBus(url, prefix, claim_idle_s=0.2)


class Collector:
    def __init__(self) -> None:
        self.seen: list[EventEnvelope] = []

    async def deliver(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.seen.extend(envelopes)


async def until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]  # condition may be sync or async
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_every_group_gets_every_event_in_order_per_aggregate(bus: EventBus) -> None:
    groups = {"memory": Collector(), "analytics": Collector()}
    for name, collector in groups.items():
        bus.subscribe(name, collector.deliver)
    await bus.start()
    try:
        sent = [envelope(f"agg-{i % 5}", i) for i in range(1, 51)]
        await bus.publish(sent[:20])
        await bus.publish(sent[20:])
        await until(lambda: all(len(c.seen) >= 50 for c in groups.values()))
        await asyncio.sleep(0.1)  # nothing more arrives
        for collector in groups.values():
            assert sorted(e.id for e in collector.seen) == sorted(e.id for e in sent)
            positions: dict[str, list[int]] = defaultdict(list)
            for e in collector.seen:
                positions[e.aggregate_id].append(e.position)
            assert all(p == sorted(p) for p in positions.values())
        assert groups["memory"].seen[0] == sent[0]  # an envelope arrives unchanged
        assert await bus.oldest_unhandled() is None
    finally:
        await bus.stop()


async def test_an_event_a_consumer_could_not_take_is_delivered_again(bus: EventBus) -> None:
    """A deliver that raises (its database is down) does not lose the event."""
    attempts: dict[uuid.UUID, int] = defaultdict(int)
    applied: list[uuid.UUID] = []

    async def flaky(events: Sequence[EventEnvelope]) -> None:
        for event in events:
            attempts[event.id] += 1
            if attempts[event.id] == 1:
                raise ConnectionError("the consumer's database is down")
            applied.append(event.id)

    bus.subscribe("memory", flaky)
    await bus.start()
    try:
        sent = envelope("agg", 1)
        try:
            await bus.publish([sent])
        except ConnectionError:
            # In-process, the publisher learns at once (the relay then leaves the row
            # unpublished, and publishes it again).
            await bus.publish([sent])
        await until(lambda: applied == [sent.id])
        assert attempts[sent.id] == 2
    finally:
        await bus.stop()


async def test_redis_streams_a_dead_consumers_entries_are_reclaimed(
    redis_url: str, redis_prefix: str
) -> None:
    """A consumer read entries and died before acknowledging them: another claims them
    once they have been idle `claim_idle_s`, and applies them."""
    bus = RedisStreamsBus(redis_url, redis_prefix, claim_idle_s=0.3, consumer_name="live")
    await bus.create_group("analytics")
    sent = [envelope("agg", i) for i in range(1, 11)]
    await bus.publish(sent)
    client = redis.Redis.from_url(redis_url)
    taken: Any = await client.xreadgroup(  # redis-py types its reply as a union of shapes
        "analytics", "doomed", {bus.stream: ">"}, count=10
    )
    assert len(taken[0][1]) == 10  # the doomed consumer holds all ten, unacknowledged
    assert await bus.oldest_unhandled() == sent[0].occurred_at

    collector = Collector()
    assert await bus.consume_once("analytics", collector.deliver, block_ms=10) == 0  # too fresh
    await asyncio.sleep(0.35)
    assert await bus.consume_once("analytics", collector.deliver, block_ms=10) == 10
    assert [e.id for e in collector.seen] == [e.id for e in sent]
    pending = await client.xpending(bus.stream, "analytics")
    assert pending["pending"] == 0
    assert await bus.oldest_unhandled() is None
    await client.aclose()
    await bus.stop()


async def test_redis_streams_stop_ends_a_reader_whose_cancel_came_out_as_an_error(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that lands inside redis-py's read can come out as a RedisError (a read
    timeout), which the reader's loop would retry: `stop()` must end it all the same."""
    reading = asyncio.Event()

    async def read_that_turns_a_cancel_into_an_error(*args: Any, **kwargs: Any) -> Any:
        reading.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379") from None

    monkeypatch.setattr(redis.Redis, "xreadgroup", read_that_turns_a_cancel_into_an_error)
    bus = RedisStreamsBus(redis_url, redis_prefix)
    bus.subscribe("memory", Collector().deliver)
    await bus.start()
    await asyncio.wait_for(reading.wait(), timeout=5)
    stopping = asyncio.create_task(bus.stop())
    done, _ = await asyncio.wait([stopping], timeout=5)
    assert done, "stop() left the reader running"  # it waited forever before


async def test_with_the_bus_down_writes_succeed_and_events_wait_in_the_outbox(
    settings: Settings, auth: Callable[..., dict[str, str]]
) -> None:
    down = settings.with_values(
        EventsSettings, bus_url="redis://127.0.0.1:1/0"
    )  # nothing listens there
    admin = auth("root", admin=True)
    async with AsyncTestClient(create_app(down)) as client:  # it starts all the same
        created = await client.post("/v1/sessions", json={}, headers=auth("alice"))
        assert created.status_code == 201
        await asyncio.sleep(0.3)  # the relay has tried, and failed
        status = await client.get("/v1/admin/events", headers=admin)
        assert status.status_code == 200
        body = status.json()
        assert body["bus_error"] and "ConnectionError" in body["bus_error"]
        conversation = next(o for o in body["outboxes"] if o["source"] == "conversation")
        assert conversation["unpublished"] == 1  # kept, to be published when Redis is back
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["components"]["events.bus"]["ok"] is False
        assert "error" not in health["components"]["events.bus"]  # details are for admins
        details = (await client.get("/v1/admin/health", headers=admin)).json()
        assert "unreachable" in details["components"]["events.bus"]["error"]
