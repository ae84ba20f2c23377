"""A module consuming events: each applied at most once (inbox), retried, dead-lettered."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from opentelemetry.trace import SpanKind
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import EventEnvelope
from contracts.users import UserDeletionRequested

from ..columns import utcnow
from ..database import ModuleDatabase
from ..telemetry.metrics import EVENTS_HANDLED
from ..telemetry.tracing import continued
from .dead_letters import DeadLetterShelf
from .handlers import EventHandlers
from .tables import EventTables

logger = logging.getLogger("bulkhead.events")


# Called once at the end of each transaction of handled events (a batch, or one event):
# a consumer that adds up its batch in memory writes the totals here.
Flush = Callable[[AsyncSession], Awaitable[None]]


@runtime_checkable
class ConsumesEvents(Protocol):
    """A module service that reacts to other modules' events."""

    def event_handlers(self) -> EventHandlers: ...


@runtime_checkable
class FlushesEvents(Protocol):
    """A consumer whose handlers add up in the transaction and write at its end."""

    async def flush_events(self, tx: AsyncSession) -> None: ...


class Consumer(DeadLetterShelf):
    def __init__(
        self,
        name: str,
        database: ModuleDatabase,
        tables: EventTables,
        handlers: EventHandlers,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.1,
        flush: Flush | None = None,
    ) -> None:
        self.name = name
        self._db = database.claim(name)
        self._inbox = tables.inbox
        self._dead = tables.dead_letters
        self._forgotten = tables.forgotten_users
        self._handlers = {(cls.TYPE, cls.VERSION): h for cls, h in handlers}
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._flush = flush

    def handles(self, envelope: EventEnvelope) -> bool:
        return self.handles_type((envelope.type, envelope.version))

    def handles_type(self, key: tuple[str, int]) -> bool:
        return key in self._handlers

    async def deliver(self, envelope: EventEnvelope) -> None:
        """Apply once, retrying with backoff; after the last attempt, dead-letter it so the
        events behind it keep flowing."""
        if not self.handles(envelope):
            return
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self.apply(envelope)
                return
            except Exception as exc:  # a handler may fail in any way; the reason is kept
                error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "%s: %s %s failed (attempt %d): %s",
                    self.name,
                    envelope.type,
                    envelope.id,
                    attempt,
                    error,
                )
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        await self._dead_letter(envelope, error, self._max_attempts)

    async def deliver_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Apply a batch in one transaction; if any of it fails, event by event instead,
        so only the event at fault is retried and dead-lettered."""
        mine = [e for e in envelopes if self.handles(e)]
        if len(mine) > 1:
            try:
                await self._apply_all(mine)
                return
            except Exception as exc:
                logger.info("%s: a batch failed (%s); applying it event by event", self.name, exc)
        for envelope in mine:
            await self.deliver(envelope)

    async def _apply_all(self, envelopes: list[EventEnvelope]) -> None:
        async with self._db.transaction() as tx:
            ids = [e.id for e in envelopes]
            done = set(
                (
                    await tx.scalars(
                        select(self._inbox.c.event_id).where(self._inbox.c.event_id.in_(ids))
                    )
                ).all()
            )
            fresh = [e for e in envelopes if e.id not in done]
            if not fresh:
                return
            now = utcnow()
            await tx.execute(
                insert(self._inbox),
                [
                    {"event_id": e.id, "source": e.source, "type": e.type, "handled_at": now}
                    for e in fresh
                ],
            )
            forgotten = await self._forgotten_among(tx, fresh)
            for envelope in fresh:
                await self._handle(tx, envelope, forgotten)
            if self._flush is not None:
                await self._flush(tx)
        if any(e.type == UserDeletionRequested.TYPE for e in fresh):
            await self._db.scrub()

    async def apply(self, envelope: EventEnvelope) -> bool:
        """Apply now, in one transaction with its inbox row; False if it was applied before."""
        try:
            async with self._db.transaction() as tx:
                # The inbox row first: a concurrent delivery of the same event waits on it
                # and then fails, rolling back its own effect.
                await tx.execute(
                    insert(self._inbox).values(
                        event_id=envelope.id,
                        source=envelope.source,
                        type=envelope.type,
                        handled_at=utcnow(),
                    )
                )
                await self._handle(tx, envelope, await self._forgotten_among(tx, [envelope]))
                if self._flush is not None:
                    await self._flush(tx)
        except IntegrityError:
            if await self.applied(envelope.id):
                return False
            raise
        if envelope.type == UserDeletionRequested.TYPE:
            await self._db.scrub()
        return True

    async def _handle(
        self, tx: AsyncSession, envelope: EventEnvelope, forgotten: dict[str, datetime]
    ) -> None:
        """Run the handler, unless the event is an older one of a user deleted since."""
        user_id, deletion = envelope.user_id, envelope.type == UserDeletionRequested.TYPE
        late = user_id in forgotten and envelope.occurred_at <= forgotten[user_id]
        if late and not deletion:
            logger.info(
                "%s: skipped %s %s of a deleted user", self.name, envelope.type, envelope.id
            )
            return
        handler = self._handlers[(envelope.type, envelope.version)]
        attributes = {"bulkhead.consumer": self.name, "bulkhead.event_id": str(envelope.id)}
        with continued(
            f"event {envelope.type} -> {self.name}",
            envelope.trace_context,
            attributes,
            SpanKind.CONSUMER,
        ):
            try:
                await handler(tx, envelope.event(), envelope)
            except Exception:
                EVENTS_HANDLED.labels(self.name, "failed").inc()
                raise
            EVENTS_HANDLED.labels(self.name, "ok").inc()
        if deletion and user_id is not None:
            await self._forget(tx, user_id, envelope.occurred_at)
            forgotten[user_id] = max(
                forgotten.get(user_id, envelope.occurred_at), envelope.occurred_at
            )

    async def _forgotten_among(
        self, tx: AsyncSession, envelopes: Sequence[EventEnvelope]
    ) -> dict[str, datetime]:
        users = {e.user_id for e in envelopes if e.user_id is not None}
        if not users:
            return {}
        rows = await tx.execute(
            select(self._forgotten.c.user_id, self._forgotten.c.forgotten_at).where(
                self._forgotten.c.user_id.in_(users)
            )
        )
        return {user_id: at for user_id, at in rows.all()}

    async def _forget(self, tx: AsyncSession, user_id: str, at: datetime) -> None:
        """Remember the deletion, and drop the user's dead letters: whole envelopes of
        their data, which could otherwise be resubmitted after the deletion."""
        known = await tx.scalar(
            select(self._forgotten.c.forgotten_at).where(self._forgotten.c.user_id == user_id)
        )
        if known is None:
            await tx.execute(insert(self._forgotten).values(user_id=user_id, forgotten_at=at))
        elif known < at:
            await tx.execute(
                update(self._forgotten)
                .where(self._forgotten.c.user_id == user_id)
                .values(forgotten_at=at)
            )
        await tx.execute(delete(self._dead).where(self._dead.c.user_id == user_id))

    async def applied(self, event_id: uuid.UUID) -> bool:
        async with self._db.read() as tx:
            found = await tx.scalar(
                select(self._inbox.c.event_id).where(self._inbox.c.event_id == event_id)
            )
        return found is not None

    async def state_of(self, event_id: uuid.UUID) -> str:
        """`applied`, `dead_letter` (given up on, for now) or `pending`."""
        if await self.applied(event_id):
            return "applied"
        async with self._db.read() as tx:
            dead = await tx.scalar(
                select(self._dead.c.id).where(
                    self._dead.c.event_id == event_id, self._dead.c.resolved_at.is_(None)
                )
            )
        return "dead_letter" if dead is not None else "pending"

    async def purge(self, cutoff: datetime, dead_letters_before: datetime) -> None:
        """Forget inbox ids and deletions older than the outbox keeps events (none of those
        events can come back), and dead letters past their own retention."""
        async with self._db.transaction() as tx:
            await tx.execute(delete(self._inbox).where(self._inbox.c.handled_at < cutoff))
            await tx.execute(
                delete(self._forgotten).where(
                    self._forgotten.c.forgotten_at < min(cutoff, dead_letters_before)
                )
            )
            await tx.execute(delete(self._dead).where(self._dead.c.failed_at < dead_letters_before))
