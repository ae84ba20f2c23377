"""Real modules on real databases, with event systems built over them on demand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.kernel.app_factory import BoundModule, close_modules
from app.kernel.events import EventSystem, Outbox, event_tables_of
from app.kernel.events.bus import EventBus
from app.kernel.events.settings import EventsSettings
from app.kernel.settings import Settings
from app.main import bind_modules
from contracts.conversation import SessionCreated
from contracts.events import EventEnvelope
from contracts.record import Contracts
from tests.conftest import empty_postgres_tables


@dataclass
class Modules:
    settings: Settings
    bound: list[BoundModule]
    made: list[EventSystem]
    contracts: Contracts

    def by_name(self, name: str) -> BoundModule:
        return next(b for b in self.bound if b.module.name == name)

    def events(self, bus: EventBus | None = None, **overrides: Any) -> EventSystem:
        """An event system over these modules (not started): one server process's worth."""
        system = EventSystem(
            self.settings.with_values(EventsSettings, **overrides), self.bound, bus
        )
        self.made.append(system)
        return system

    def outbox(self, name: str) -> Outbox:
        tables = event_tables_of(self.by_name(name).module.metadata)
        assert tables is not None
        return Outbox(name, tables)

    async def write_sessions_created(self, count: int, *, aggregates: int, user: str) -> None:
        """`count` SessionCreated events in the conversation outbox, spread over
        `aggregates` sessions, written straight to the outbox in a few transactions."""
        outbox, database = self.outbox("conversation"), self.by_name("conversation").database
        sessions = [uuid.uuid4() for _ in range(aggregates)]
        for start in range(0, count, 1000):
            async with database.transaction() as tx:
                for i in range(start, min(count, start + 1000)):
                    event = SessionCreated(
                        user_id=user,
                        session_id=sessions[i % aggregates],
                        title=None,
                        created_at=datetime.now(UTC),
                    )
                    await outbox.add(tx, event)


@pytest.fixture
async def modules(settings: Settings) -> AsyncIterator[Modules]:
    async with _bound(settings) as bound:
        yield bound


@pytest.fixture
async def pg_modules(
    postgres_urls: dict[str, str], sqlite_settings: Settings
) -> AsyncIterator[Modules]:
    """For what only PostgreSQL can show (two relays racing; SQLite serialises writers)."""
    await empty_postgres_tables(postgres_urls)
    async with _bound(replace(sqlite_settings, database_urls=postgres_urls)) as bound:
        yield bound


@asynccontextmanager
async def _bound(settings: Settings) -> AsyncIterator[Modules]:
    settings = settings.with_values(EventsSettings, backoff_s=0.001, max_attempts=3)
    wiring = bind_modules(settings)
    made: list[EventSystem] = []
    try:
        yield Modules(settings, wiring.modules, made, wiring.contracts)
    finally:
        for system in made:
            await system.stop_background()
        await close_modules(wiring.modules)


async def sessions_counted(modules: Modules) -> int:
    """SessionCreated events the analytics model has counted."""
    report = await modules.contracts.analytics.report(
        since=datetime.now(UTC) - timedelta(days=1), until=datetime.now(UTC) + timedelta(days=1)
    )
    return sum(day.sessions_created for day in report.days)


class RecordingBus:
    """An in-process bus that also keeps what was published, in order."""

    kind = "recording"

    def __init__(self, inner: EventBus | None = None) -> None:
        from app.kernel.events.bus import InProcessBus

        self.inner = inner or InProcessBus()
        self.published: list[EventEnvelope] = []

    def subscribe(self, group: str, deliver: Any) -> None:
        self.inner.subscribe(group, deliver)

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        self.published.extend(envelopes)
        await self.inner.publish(envelopes)

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def oldest_unhandled(self) -> datetime | None:
        return await self.inner.oldest_unhandled()
