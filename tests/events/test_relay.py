"""The relay: in order per aggregate, once per event normally, again after a crash, and
applied exactly once by consumers whatever happens."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.kernel.database import open_module_database
from app.kernel.events import Relay
from contracts.conversation import MessageCreate, SessionCreate, SessionCreated
from contracts.events import EventEnvelope

from .conftest import Modules, RecordingBus, sessions_counted


def in_order_per_aggregate(published: list[EventEnvelope]) -> bool:
    positions: dict[str, list[int]] = defaultdict(list)
    for envelope in published:
        positions[envelope.aggregate_id].append(envelope.position)
    return all(p == sorted(p) for p in positions.values())


async def unpublished(modules: Modules, name: str) -> int:
    table = modules.outbox(name).table
    async with modules.by_name(name).database.read() as tx:
        return (
            await tx.scalar(
                select(func.count()).select_from(table).where(table.c.published_at.is_(None))
            )
            or 0
        )


async def test_publishes_in_order_marks_published_and_feeds_consumers(modules: Modules) -> None:
    conversation = modules.contracts.conversation
    session = await conversation.create_session(user_id="alice", session=SessionCreate(title="t"))
    for n in range(5):
        await conversation.append_message(
            session_id=session.id,
            user_id="alice",
            message=MessageCreate(role="user", content=f"m{n}"),
        )
    bus = RecordingBus()
    events = modules.events(bus)
    assert await events.drain() == 6
    assert [e.type for e in bus.published] == ["SessionCreated"] + ["MessageAppended"] * 5
    assert [e.event().seq for e in bus.published[1:]] == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]  # the events are MessageAppended
    assert await unpublished(modules, "conversation") == 0
    assert await events.drain() == 0  # nothing is published twice
    assert await sessions_counted(modules) == 1
    status = await events.status()
    assert status.consistency_lag_s == 0.0 and status.bus == "recording"


async def test_lag_is_the_age_of_the_oldest_unapplied_event(modules: Modules) -> None:
    await modules.write_sessions_created(3, aggregates=1, user="alice")
    await asyncio.sleep(0.2)
    events = modules.events()
    status = await events.status()
    conversation = next(o for o in status.outboxes if o.source == "conversation")
    assert conversation.unpublished == 3
    assert status.consistency_lag_s >= 0.2
    await events.drain()
    assert (await events.status()).consistency_lag_s == 0.0


async def test_published_rows_are_purged_after_retention_unpublished_never(
    modules: Modules,
) -> None:
    await modules.write_sessions_created(4, aggregates=2, user="alice")
    events = modules.events(retention_s=3600)
    await events.drain()
    await modules.write_sessions_created(2, aggregates=1, user="alice")  # not yet published
    await events.purge(now=datetime.now(UTC) + timedelta(minutes=30))
    page = await modules.contracts.conversation.replay_events(after=0, limit=100)
    assert page.retained == 6  # within retention: all kept
    await events.purge(now=datetime.now(UTC) + timedelta(hours=2))
    page = await modules.contracts.conversation.replay_events(after=0, limit=100)
    assert page.retained == 2 and await unpublished(modules, "conversation") == 2


async def test_rows_of_a_relay_that_died_are_published_again_after_its_lease(
    modules: Modules,
) -> None:
    await modules.write_sessions_created(30, aggregates=3, user="alice")
    dead_bus, live_bus = RecordingBus(), RecordingBus()
    # A lease long enough that a slow machine cannot see it lapse before the first check.
    dead = modules.events(dead_bus, batch_size=10, lease_s=300)
    live = modules.events(live_bus, batch_size=10, lease_s=300)
    relay: Relay = dead.relays[[r.source for r in dead.relays].index("conversation")]
    table = modules.outbox("conversation").table

    # The dead relay claimed a batch and delivered it, then died before marking it.
    claimed = await relay.claim()
    await dead_bus.publish([modules.outbox("conversation").envelope(row) for row in claimed])
    assert len(claimed) == 10

    # While the lease holds, the live relay leaves those rows and their aggregates alone.
    await live.drain()
    assert live_bus.published == []  # 3 aggregates, each with a leased earlier row

    # Time passes the lease's end (moved back rather than slept through).
    async with modules.by_name("conversation").database.transaction() as tx:
        await tx.execute(
            update(table)
            .where(table.c.lease_owner.is_not(None))
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await live.drain()

    assert len(live_bus.published) == 30  # the claimed 10 again, then the rest
    assert in_order_per_aggregate(live_bus.published)
    assert await unpublished(modules, "conversation") == 0
    assert await sessions_counted(modules) == 30  # the 10 delivered twice applied once


@pytest.mark.postgres
async def test_two_relays_over_ten_thousand_events(pg_modules: Modules) -> None:
    modules = pg_modules
    await modules.write_sessions_created(10_000, aggregates=400, user="alice")
    buses = [RecordingBus(), RecordingBus()]
    systems = [modules.events(bus, batch_size=100) for bus in buses]
    await asyncio.gather(*(system.drain() for system in systems))

    published = [e for bus in buses for e in bus.published]
    assert len(published) == 10_000  # the normal case: each event once
    assert len({e.id for e in published}) == 10_000
    assert all(bus.published for bus in buses)  # both relays took part
    for bus in buses:
        assert in_order_per_aggregate(bus.published)
    assert await unpublished(modules, "conversation") == 0
    assert await sessions_counted(modules) == 10_000


@pytest.mark.postgres
async def test_two_relays_with_lapsing_leases_still_apply_each_event_once(
    pg_modules: Modules,
) -> None:
    modules = pg_modules
    await modules.write_sessions_created(1_000, aggregates=50, user="alice")
    buses = [SlowBus(), SlowBus()]
    systems = [modules.events(bus, batch_size=50, lease_s=1) for bus in buses]
    conversation = modules.by_name("conversation").database
    table = modules.outbox("conversation").table

    # Each keeps relaying until nothing is left (a drain alone stops at a blocked batch).
    draining = asyncio.gather(*(system.settle() for system in systems))

    async def expire_leases() -> None:
        # Leases lapse while batches are still being published, as if each relay stalled
        # past its lease: the other may take the same rows and publish them again.
        while not draining.done():
            async with conversation.transaction() as tx:
                await tx.execute(
                    update(table)
                    .where(table.c.published_at.is_(None), table.c.lease_owner.is_not(None))
                    .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
                )
            await asyncio.sleep(0.005)

    await asyncio.gather(draining, expire_leases())
    published = [e for bus in buses for e in bus.published]
    assert len({e.id for e in published}) == 1_000  # none lost
    assert await unpublished(modules, "conversation") == 0
    # Whatever the race published twice, and a batch delivered once more for certain:
    await buses[0].publish(published[:50])
    assert await sessions_counted(modules) == 1_000  # applied exactly once each


class SlowBus(RecordingBus):
    """Publishing takes a while, so leases lapse mid-batch."""

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        await asyncio.sleep(0.02)
        await super().publish(envelopes)


async def test_the_background_relay_publishes_a_commit_here_at_once_and_others_by_polling(
    modules: Modules,
) -> None:
    """A commit in this process wakes its outbox's relay; rows another process wrote
    (which wakes nothing here) go out at the next poll of every outbox."""
    bus = RecordingBus()
    events = modules.events(bus, poll_s=2.0)
    await events.start_background()
    await events.settle()
    conversation = modules.contracts.conversation
    started = asyncio.get_running_loop().time()
    await conversation.create_session(user_id="alice", session=SessionCreate(title="here"))
    await events.settle()
    assert [e.type for e in bus.published] == ["SessionCreated"]
    assert asyncio.get_running_loop().time() - started < 1.5  # woken, not polled

    # Another process's writer: the same file, its own engine, nobody here listening.
    elsewhere = open_module_database("conversation", modules.settings)
    try:
        async with elsewhere.transaction() as tx:
            await modules.outbox("conversation").add(
                tx,
                SessionCreated(
                    user_id="bob", session_id=uuid.uuid4(), title=None, created_at=datetime.now(UTC)
                ),
            )
    finally:
        await elsewhere.dispose()
    await events.settle()
    assert [e.user_id for e in bus.published] == ["alice", "bob"]
    assert await sessions_counted(modules) == 2
