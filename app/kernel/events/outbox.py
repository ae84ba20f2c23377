"""Writing events to a module's outbox, and reading them back (replay, status)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event, EventEnvelope, EventPage

from ..columns import utcnow
from ..database import EVENTS_WRITTEN, ModuleDatabase
from ..telemetry.tracing import current_traceparent
from .tables import EventTables

MAX_REPLAY_PAGE = 1_000


class Outbox:
    """One module's outbox. `add` joins the caller's transaction, so the event commits with
    the data it describes or not at all."""

    def __init__(self, source: str, tables: EventTables) -> None:
        self.source = source
        self.table = tables.outbox

    async def add(
        self,
        tx: AsyncSession,
        event: Event,
        *,
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,  # a caller that reports on it later names it
    ) -> uuid.UUID:
        payload = msgspec.to_builtins(event)
        payload.pop("user_id")  # the envelope carries it, as a column deletion can find
        event_id = event_id or uuid.uuid4()
        await tx.execute(
            insert(self.table).values(
                event_id=event_id,
                aggregate_type=event.AGGREGATE,
                aggregate_id=event.aggregate_id(),
                type=event.TYPE,
                version=event.VERSION,
                user_id=event.user_id,
                payload=msgspec.json.encode(payload).decode(),
                trace_context=current_traceparent(),
                occurred_at=occurred_at or utcnow(),
                attempts=0,
            )
        )
        tx.info[EVENTS_WRITTEN] = True
        return event_id

    async def forget_user(self, tx: AsyncSession, user_id: str) -> None:
        """Drop the user's events, published or not: they carry the user's data."""
        await tx.execute(delete(self.table).where(self.table.c.user_id == user_id))

    async def replay(self, database: ModuleDatabase, *, after: int, limit: int) -> EventPage:
        limit = max(1, min(limit, MAX_REPLAY_PAGE))
        async with database.read() as tx:
            rows = (
                await tx.execute(
                    select(self.table)
                    .where(self.table.c.id > after)
                    .order_by(self.table.c.id)
                    .limit(limit + 1)
                )
            ).all()
            retained = await tx.scalar(select(func.count()).select_from(self.table))
        page = rows[:limit]
        return EventPage(
            items=[self.envelope(row) for row in page],
            next_after=page[-1].id if len(rows) > limit else None,
            retained=retained or 0,
        )

    def envelope(self, row: Row[Any]) -> EventEnvelope:
        return EventEnvelope(
            id=row.event_id,
            source=self.source,
            position=row.id,
            type=row.type,
            version=row.version,
            aggregate_type=row.aggregate_type,
            aggregate_id=row.aggregate_id,
            user_id=row.user_id,
            occurred_at=row.occurred_at,
            payload=msgspec.json.decode(row.payload),
            trace_context=row.trace_context,
        )


class ReplaysOutbox:
    """Gives a service the `EventSource` contract method from its own outbox: a module's
    retained events, oldest first, read again (for read-model rebuilds)."""

    _db: ModuleDatabase
    _outbox: Outbox

    async def replay_events(self, *, after: int = 0, limit: int = 500) -> EventPage:
        return await self._outbox.replay(self._db, after=after, limit=limit)
