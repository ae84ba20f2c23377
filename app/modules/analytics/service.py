"""AnalyticsService: implements `contracts.analytics.AnalyticsAPI`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import ModuleDatabase
from app.kernel.events import Consumer, EventHandlers, Outbox, ReplaysOutbox
from app.kernel.settings import Settings
from contracts.analytics import AnalyticsReport
from contracts.events import EventEnvelope

from .models import (
    EVENT_TABLES,
    RetrievalSampleRow,
    SourcePositionRow,
    ToolCallsByDayRow,
    UsageByDayRow,
)
from .projections import HANDLERS, flush
from .report import build_report


class AnalyticsService(ReplaysOutbox):
    def __init__(self, database: ModuleDatabase, settings: Settings) -> None:
        self._db = database.claim("analytics")
        self._outbox = Outbox("analytics", EVENT_TABLES)  # it writes none; kept for the shape
        # Replayed events go through the same inbox as live ones, so a rebuild running
        # beside the live consumer still applies each event once.
        self._replay = Consumer(
            "analytics", database, EVENT_TABLES, HANDLERS, max_attempts=1, flush=flush
        )

    def event_handlers(self) -> EventHandlers:
        return HANDLERS

    async def flush_events(self, tx: AsyncSession) -> None:
        await flush(tx)

    async def report(self, *, since: datetime, until: datetime) -> AnalyticsReport:
        async with self._db.read() as tx:
            return await build_report(tx, since, until)

    async def reset(self) -> None:
        async with self._db.transaction() as tx:
            for row in (UsageByDayRow, ToolCallsByDayRow, RetrievalSampleRow, SourcePositionRow):
                await tx.execute(delete(row))
            await tx.execute(delete(EVENT_TABLES.inbox))

    async def apply_events(self, *, events: list[EventEnvelope]) -> int:
        applied = 0
        for envelope in events:
            if self._replay.handles(envelope) and await self._replay.apply(envelope):
                applied += 1
        return applied
