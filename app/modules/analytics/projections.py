"""How each event changes the read model: one handler per event type."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import dialect_of
from app.kernel.events import EventHandlers, Handler
from contracts.conversation import MessageAppended, RoutingDecided, SessionCreated, SessionDeleted
from contracts.events import Event, EventEnvelope
from contracts.memory import MemoryAdded, MemoryDeleted
from contracts.rag import DocumentIngested, SearchPerformed
from contracts.tools import ToolExecuted
from contracts.users import UserDeletionRequested

from .models import (
    UNATTRIBUTED,
    RetrievalSampleRow,
    SourcePositionRow,
    ToolCallsByDayRow,
    UsageByDayRow,
)

_PENDING = "analytics_pending"
_USAGE: Table = UsageByDayRow.__table__  # type: ignore[assignment]  # declarative models type __table__ as FromClause
_TOOLS: Table = ToolCallsByDayRow.__table__  # type: ignore[assignment]  # declarative models type __table__ as FromClause
_POSITIONS: Table = SourcePositionRow.__table__  # type: ignore[assignment]  # declarative models type __table__ as FromClause


async def _add(
    tx: AsyncSession, table: Table, keys: Mapping[str, Any], amounts: Mapping[str, Any]
) -> None:
    """Insert the row, or add `amounts` to the one already there (one statement)."""
    insert = pg_insert if dialect_of(tx) == "postgresql" else sqlite_insert
    statement = insert(table).values(**keys, **amounts)
    await tx.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in amounts},
        )
    )


class Pending:
    """What a transaction's events add up to, written once by `flush`: a batch of a
    hundred messages from ten users is ten upserts, not a hundred."""

    def __init__(self) -> None:
        self.usage: dict[tuple[str, date], dict[str, float]] = defaultdict(
            lambda: defaultdict(int)  # ints stay ints; only durations become floats
        )
        self.tools: dict[tuple[str, date, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(int)  # ints stay ints; only durations become floats
        )
        self.positions: dict[str, tuple[int, datetime, int]] = {}

    def track(self, envelope: EventEnvelope) -> None:
        """The source's highest position applied (redeliveries come out of order)."""
        position, occurred, count = self.positions.get(
            envelope.source, (envelope.position, envelope.occurred_at, 0)
        )
        self.positions[envelope.source] = (
            max(position, envelope.position),
            max(occurred, envelope.occurred_at),
            count + 1,
        )


def _pending(tx: AsyncSession) -> Pending:
    pending: Pending = tx.info.setdefault(_PENDING, Pending())
    return pending


async def flush(tx: AsyncSession) -> None:
    """Write what the transaction's events added up to (the consumer calls it last)."""
    pending: Pending | None = tx.info.pop(_PENDING, None)
    if pending is None:
        return
    for (user, day), amounts in pending.usage.items():
        await _add(tx, _USAGE, {"user_id": user, "day": day}, amounts)
    for (user, day, tool), amounts in pending.tools.items():
        await _add(tx, _TOOLS, {"user_id": user, "day": day, "tool_name": tool}, amounts)
    for source, (position, occurred, count) in pending.positions.items():
        await _advance(tx, source, position, occurred, count)


async def _advance(
    tx: AsyncSession, source: str, position: int, occurred: datetime, count: int
) -> None:
    postgres = dialect_of(tx) == "postgresql"
    insert, greatest = (pg_insert, func.greatest) if postgres else (sqlite_insert, func.max)
    statement = insert(_POSITIONS).values(
        source=source, last_position=position, last_occurred_at=occurred, events_applied=count
    )
    await tx.execute(
        statement.on_conflict_do_update(
            index_elements=["source"],
            set_={
                "last_position": greatest(
                    _POSITIONS.c.last_position, statement.excluded.last_position
                ),
                "last_occurred_at": greatest(
                    _POSITIONS.c.last_occurred_at, statement.excluded.last_occurred_at
                ),
                "events_applied": _POSITIONS.c.events_applied + statement.excluded.events_applied,
            },
        )
    )


async def _count(tx: AsyncSession, envelope: EventEnvelope, **amounts: float) -> None:
    row = _pending(tx).usage[(envelope.user_id or UNATTRIBUTED, _day(envelope))]
    for name, amount in amounts.items():
        row[name] += amount


def _day(envelope: EventEnvelope) -> date:
    return envelope.occurred_at.date()


async def session_created(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, sessions_created=1)


async def session_deleted(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, sessions_deleted=1)


async def message_appended(
    tx: AsyncSession, event: MessageAppended, envelope: EventEnvelope
) -> None:
    await _count(tx, envelope, messages=1, tokens=event.tokens)


async def routing_decided(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, routing_decisions=1)


async def document_ingested(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, documents_ingested=1)


async def memory_added(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, memories_added=1)


async def memory_deleted(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, memories_deleted=1)


async def search_performed(
    tx: AsyncSession, event: SearchPerformed, envelope: EventEnvelope
) -> None:
    tx.add(
        RetrievalSampleRow(
            event_id=envelope.id,
            user_id=envelope.user_id or UNATTRIBUTED,
            day=_day(envelope),
            latency_ms=event.latency_ms,
        )
    )


async def tool_executed(tx: AsyncSession, event: ToolExecuted, envelope: EventEnvelope) -> None:
    row = _pending(tx).tools[(envelope.user_id or UNATTRIBUTED, _day(envelope), event.tool_name)]
    row["calls"] += 1
    row["succeeded"] += 1 if event.status == "succeeded" else 0
    row["duration_ms"] += event.duration_ms or 0.0


async def user_deletion_requested(
    tx: AsyncSession, event: UserDeletionRequested, envelope: EventEnvelope
) -> None:
    """Forget the user: their rows go, so reports (and a rebuild) no longer count them."""
    await flush(tx)  # what came before this event in the batch goes too; what comes after stays
    for row in (UsageByDayRow, ToolCallsByDayRow, RetrievalSampleRow):
        await tx.execute(delete(row).where(row.user_id == event.user_id))


PROJECTIONS = (
    EventHandlers()
    .on(SessionCreated, session_created)
    .on(SessionDeleted, session_deleted)
    .on(MessageAppended, message_appended)
    .on(RoutingDecided, routing_decided)
    .on(DocumentIngested, document_ingested)
    .on(SearchPerformed, search_performed)
    .on(ToolExecuted, tool_executed)
    .on(MemoryAdded, memory_added)
    .on(MemoryDeleted, memory_deleted)
    .on(UserDeletionRequested, user_deletion_requested)
)


def tracked(handler: Handler) -> Handler:
    """The handler, then the source's position, in the same transaction."""

    async def apply(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
        await handler(tx, event, envelope)
        _pending(tx).track(envelope)

    return apply


HANDLERS = PROJECTIONS.around(tracked)
