"""Events: outbox -> relay -> bus -> consumers, on SQLite and PostgreSQL, in-process and
over Redis Streams, in one run.

  direct       the consumers (memory, analytics) applying the same events in the relay's
               batches, with no outbox, relay or bus: the baseline for events/s
  backlog      N MessageAppended events already in the conversation outbox, then the
               relay started: events/s until both consumers have applied all of them
  steady load  messages appended through ConversationAPI at a steady rate while the relay
               runs; lag = applied by analytics minus written (p50, p99)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import redis as redis_sync

from app.kernel import migrations, provision
from app.kernel.app_factory import BoundModule, close_modules
from app.kernel.events import EventSystem, Outbox, event_tables_of
from app.kernel.events.settings import EventsSettings
from app.kernel.settings import Settings
from app.main import DATABASES, bind_modules
from bench.sizes import size
from contracts.conversation import MessageAppended, MessageCreate, SessionCreate
from contracts.events import EventEnvelope
from tests.pgvector_server import PgvectorServer

EVENTS = int(size("BENCH_EVENTS", "2000", "100"))
RATE = int(size("BENCH_EVENTS_RATE", "100", "20"))  # messages per second
SECONDS = float(size("BENCH_EVENTS_SECONDS", "5", "1"))
POSTGRES_ADMIN_URL = os.environ.get(
    "BULKHEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BULKHEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VECTOR = {"memory", "rag"}


async def write_backlog(bound: list[BoundModule], count: int) -> None:
    conversation = next(b for b in bound if b.module.name == "conversation")
    tables = event_tables_of(conversation.module.metadata)
    assert tables is not None
    outbox = Outbox("conversation", tables)
    sessions = [uuid.uuid4() for _ in range(50)]
    async with conversation.database.transaction() as tx:
        for i in range(count):
            await outbox.add(
                tx,
                MessageAppended(
                    user_id=f"user-{i % 10}",
                    session_id=sessions[i % 50],
                    message_id=uuid.uuid4(),
                    seq=i // 50 + 1,
                    role="assistant",
                    content=f"reply number {i}",
                    tokens=4,
                    created_at=datetime.now(UTC),
                ),
            )


async def direct(settings: Settings) -> float:
    """The consumers' own cost: apply each event straight from the outbox's rows."""
    wiring = bind_modules(settings)
    bound = wiring.modules
    try:
        system = EventSystem(settings, bound)
        await write_backlog(bound, EVENTS)
        conversation = wiring.contracts.conversation
        envelopes: list[EventEnvelope] = []
        after = 0
        while True:
            page = await conversation.replay_events(after=after, limit=1000)
            envelopes += page.items
            if page.next_after is None:
                break
            after = page.next_after
        consumers = [c for c in system.consumers.values() if c.handles(envelopes[0])]
        size = settings.of(EventsSettings).batch_size  # as the relay hands them over
        started = time.perf_counter()
        for start in range(0, len(envelopes), size):
            for consumer in consumers:
                await consumer.deliver_batch(envelopes[start : start + size])
        return len(envelopes) / (time.perf_counter() - started)
    finally:
        await close_modules(bound)


async def through_the_bus(settings: Settings) -> tuple[float, list[float]]:
    wiring = bind_modules(settings)
    bound = wiring.modules
    system = EventSystem(settings, bound)
    lags: list[float] = []
    analytics = system.consumers["analytics"]

    async def timed(envelopes: Sequence[EventEnvelope]) -> None:
        await analytics.deliver_batch(envelopes)
        now = datetime.now(UTC)
        lags.extend((now - e.occurred_at).total_seconds() * 1000 for e in envelopes)

    system.bus.subscribe("analytics", timed)
    try:
        await write_backlog(bound, EVENTS)
        started = time.perf_counter()
        await system.start_background()
        await system.settle(timeout_s=600)
        per_second = EVENTS / (time.perf_counter() - started)

        lags.clear()
        conversation = wiring.contracts.conversation
        sessions = [
            await conversation.create_session(user_id=f"load-{i}", session=SessionCreate())
            for i in range(10)
        ]
        interval, sent = 1 / RATE, 0
        begin = time.perf_counter()
        while time.perf_counter() - begin < SECONDS:
            session = sessions[sent % len(sessions)]
            await conversation.append_message(
                session_id=session.id,
                user_id=session.user_id,
                message=MessageCreate(role="user", content=f"I'm message {sent}"),
            )
            sent += 1
            await asyncio.sleep(max(0.0, begin + sent * interval - time.perf_counter()))
        await system.settle(timeout_s=600)
        return per_second, sorted(lags)
    finally:
        await system.stop_background()
        await close_modules(bound)


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


async def measure(backend: str, fresh: Callable[[], Awaitable[Settings]]) -> list[str]:
    lines = []
    baseline = await direct(await fresh())
    lines.append(
        f"{backend:<9} {'direct (no bus)':<16} {baseline:>9.0f} {1:>7.2f}x {'':>9} {'':>9}"
    )
    prefix = f"bhbench-{secrets.token_hex(4)}"
    for bus in ("in-process", "redis-streams"):
        settings = await fresh()
        if bus == "redis-streams":
            settings = replace(settings, redis_key_prefix=prefix).with_values(
                EventsSettings, bus_url=REDIS_URL
            )
        per_second, lags = await through_the_bus(settings)
        lines.append(
            f"{backend:<9} {bus:<16} {per_second:>9.0f} {per_second / baseline:>7.2f}x "
            f"{statistics.median(lags):>9.1f} {percentile(lags, 0.99):>9.1f}"
        )
    client = redis_sync.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    return lines


async def main() -> None:
    lines = []
    with tempfile.TemporaryDirectory() as root:
        runs = iter(range(100))

        async def fresh_sqlite() -> Settings:
            settings = Settings(
                data_dir=Path(root) / f"run{next(runs)}", embedding_model="hashing-384"
            )
            await migrations.upgrade_modules(DATABASES, settings)
            return settings

        lines += await measure("sqlite", fresh_sqlite)
        server = PgvectorServer().start()
        names = [d.name for d in DATABASES]
        extensions = {d.name: d.postgres_extensions for d in DATABASES}
        servers = {
            POSTGRES_ADMIN_URL: [n for n in names if n not in VECTOR],
            server.admin_url: [n for n in names if n in VECTOR],
        }
        prefixes: list[str] = []

        async def fresh_postgres() -> Settings:
            prefix = f"bhbench_{secrets.token_hex(4)}"
            prefixes.append(prefix)
            urls: dict[str, str] = {}
            for admin_url, modules in servers.items():
                done = await provision.provision(
                    admin_url,
                    modules,
                    prefix=prefix,
                    output=Path(root) / f"{prefix}.json",
                    extensions=extensions,
                )
                urls.update(done.urls)
            settings = Settings(
                data_dir=Path(root), embedding_model="hashing-384", database_urls=urls
            )
            await migrations.upgrade_modules(DATABASES, settings)
            return settings

        try:
            lines += await measure("postgres", fresh_postgres)
        finally:
            for prefix in prefixes:
                for admin_url, modules in servers.items():
                    await provision.drop(admin_url, modules, prefix=prefix)
            server.stop()
    print(
        f"\nEvents: a backlog of {EVENTS} MessageAppended to memory and analytics (events/s),"
        f"\nthen {RATE} messages/s for {SECONDS:.0f}s (lag to analytics, ms)"
    )
    print(f"{'backend':<9} {'bus':<16} {'events/s':>9} {'ratio':>8} {'lag p50':>9} {'lag p99':>9}")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
