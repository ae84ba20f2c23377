"""How each event changes the read model: one handler per event type."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Table, delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.events import Handler
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


async def _add(
    tx: AsyncSession, table: Table, keys: Mapping[str, Any], amounts: Mapping[str, Any]
) -> None:
    """Insert the row, or add `amounts` to the one already there (one statement)."""
    insert = pg_insert if tx.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(**keys, **amounts)
    await tx.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in amounts},
        )
    )


async def _count(tx: AsyncSession, envelope: EventEnvelope, **amounts: float) -> None:
    user = envelope.user_id or UNATTRIBUTED
    await _add(
        tx,
        UsageByDayRow.__table__,
        {"user_id": user, "day": _day(envelope)},
        amounts,  # type: ignore[arg-type]
    )


def _day(envelope: EventEnvelope) -> date:
    return envelope.occurred_at.date()


async def _track(tx: AsyncSession, envelope: EventEnvelope) -> None:
    """Advance the source's position (the highest applied: redeliveries come out of order)."""
    table: Table = SourcePositionRow.__table__  # type: ignore[assignment]
    postgres = tx.bind.dialect.name == "postgresql"
    insert, greatest = (pg_insert, func.greatest) if postgres else (sqlite_insert, func.max)
    statement = insert(table).values(
        source=envelope.source,
        last_position=envelope.position,
        last_occurred_at=envelope.occurred_at,
        events_applied=1,
    )
    await tx.execute(
        statement.on_conflict_do_update(
            index_elements=["source"],
            set_={
                "last_position": greatest(table.c.last_position, statement.excluded.last_position),
                "last_occurred_at": greatest(
                    table.c.last_occurred_at, statement.excluded.last_occurred_at
                ),
                "events_applied": table.c.events_applied + 1,
            },
        )
    )


async def session_created(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, sessions_created=1)


async def session_deleted(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, sessions_deleted=1)


async def message_appended(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    assert isinstance(event, MessageAppended)
    await _count(tx, envelope, messages=1, tokens=event.tokens)


async def routing_decided(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, routing_decisions=1)


async def document_ingested(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, documents_ingested=1)


async def memory_added(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, memories_added=1)


async def memory_deleted(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    await _count(tx, envelope, memories_deleted=1)


async def search_performed(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    assert isinstance(event, SearchPerformed)
    tx.add(
        RetrievalSampleRow(
            event_id=envelope.id,
            user_id=envelope.user_id or UNATTRIBUTED,
            day=_day(envelope),
            latency_ms=event.latency_ms,
        )
    )


async def tool_executed(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    assert isinstance(event, ToolExecuted)
    await _add(
        tx,
        ToolCallsByDayRow.__table__,  # type: ignore[arg-type]
        {
            "user_id": envelope.user_id or UNATTRIBUTED,
            "day": _day(envelope),
            "tool_name": event.tool_name,
        },
        {
            "calls": 1,
            "succeeded": 1 if event.status == "succeeded" else 0,
            "duration_ms": event.duration_ms or 0.0,
        },
    )


async def user_deletion_requested(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
    """Forget the user: their rows go, so reports (and a rebuild) no longer count them."""
    for row in (UsageByDayRow, ToolCallsByDayRow, RetrievalSampleRow):
        await tx.execute(delete(row).where(row.user_id == event.user_id))


PROJECTIONS: dict[type[Event], Handler] = {
    SessionCreated: session_created,
    SessionDeleted: session_deleted,
    MessageAppended: message_appended,
    RoutingDecided: routing_decided,
    DocumentIngested: document_ingested,
    SearchPerformed: search_performed,
    ToolExecuted: tool_executed,
    MemoryAdded: memory_added,
    MemoryDeleted: memory_deleted,
    UserDeletionRequested: user_deletion_requested,
}


def tracked(handler: Handler) -> Handler:
    """The handler, then the source's position, in the same transaction."""

    async def apply(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
        await handler(tx, event, envelope)
        await _track(tx, envelope)

    return apply


HANDLERS: dict[type[Event], Handler] = {cls: tracked(h) for cls, h in PROJECTIONS.items()}
