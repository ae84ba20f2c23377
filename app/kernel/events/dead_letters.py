"""Dead letters: events a consumer kept failing on, kept whole for an admin to look at
and resubmit (`/v1/admin/events/dead-letters`). A consumer is a shelf of its own letters."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, Table, func, insert, select, update

from contracts.errors import Conflict, NotFound
from contracts.events import EventEnvelope

from ..columns import utcnow
from ..database import ModuleDatabase

logger = logging.getLogger("bulkhead.events")
MAX_ERROR_CHARS = 2_000


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    consumer: str
    event_id: uuid.UUID
    source: str
    type: str
    error: str
    attempts: int
    failed_at: datetime
    resolved_at: datetime | None
    envelope: EventEnvelope


class DeadLetterNotFound(NotFound):
    """No dead letter with that id in that consumer."""


class DeadLetterStillFails(Conflict):
    """Resubmitted, the handler failed again; the dead letter stays, with the new error."""


class DeadLetterShelf:
    """A consumer's dead letters in its own database's `dead_letters` table."""

    name: str
    _db: ModuleDatabase
    _dead: Table

    async def apply(self, envelope: EventEnvelope) -> bool:
        raise NotImplementedError  # the consumer's: apply one event, through its inbox

    async def _dead_letter(self, envelope: EventEnvelope, error: str, attempts: int) -> None:
        now = utcnow()
        async with self._db.transaction() as tx:
            earlier = await tx.scalar(
                select(self._dead.c.id).where(
                    self._dead.c.event_id == envelope.id, self._dead.c.resolved_at.is_(None)
                )
            )
            if earlier is not None:  # delivered again while dead: one letter, more attempts
                await tx.execute(
                    update(self._dead)
                    .where(self._dead.c.id == earlier)
                    .values(
                        error=error[:MAX_ERROR_CHARS],
                        attempts=self._dead.c.attempts + attempts,
                        failed_at=now,
                    )
                )
                return
            await tx.execute(
                insert(self._dead).values(
                    id=uuid.uuid4(),
                    event_id=envelope.id,
                    source=envelope.source,
                    type=envelope.type,
                    user_id=envelope.user_id,
                    envelope=msgspec.json.encode(envelope).decode(),
                    error=error[:MAX_ERROR_CHARS],
                    attempts=attempts,
                    failed_at=now,
                )
            )
        logger.error("%s: dead-lettered %s %s: %s", self.name, envelope.type, envelope.id, error)

    async def dead_letters(
        self, *, include_resolved: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        query = select(self._dead).order_by(self._dead.c.failed_at.desc()).limit(limit)
        if not include_resolved:
            query = query.where(self._dead.c.resolved_at.is_(None))
        async with self._db.read() as tx:
            rows = (await tx.execute(query)).all()
        return [self._letter(row) for row in rows]

    async def unresolved_count(self) -> int:
        async with self._db.read() as tx:
            count = await tx.scalar(
                select(func.count())
                .select_from(self._dead)
                .where(self._dead.c.resolved_at.is_(None))
            )
        return count or 0

    async def resubmit(self, letter_id: uuid.UUID) -> DeadLetter:
        """Apply a dead letter's event once more (its handler fixed, its cause gone)."""
        async with self._db.read() as tx:
            row = (await tx.execute(select(self._dead).where(self._dead.c.id == letter_id))).first()
        if row is None:
            raise DeadLetterNotFound(f"no dead letter {letter_id} in {self.name}", field="id")
        letter = self._letter(row)
        if letter.resolved_at is not None:
            return letter
        try:
            await self.apply(letter.envelope)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            async with self._db.transaction() as tx:
                await tx.execute(
                    update(self._dead)
                    .where(self._dead.c.id == letter_id)
                    .values(error=error, attempts=self._dead.c.attempts + 1, failed_at=utcnow())
                )
            raise DeadLetterStillFails(
                f"{self.name} still fails on {letter.type} {letter.event_id}: {error}",
                details={"dead_letter_id": str(letter_id)},
            ) from None
        resolved_at = utcnow()
        async with self._db.transaction() as tx:
            await tx.execute(
                update(self._dead)
                .where(self._dead.c.id == letter_id)
                .values(resolved_at=resolved_at)
            )
        return msgspec.structs.replace(letter, resolved_at=resolved_at)

    def _letter(self, row: Row[Any]) -> DeadLetter:
        return DeadLetter(
            id=row.id,
            consumer=self.name,
            event_id=row.event_id,
            source=row.source,
            type=row.type,
            error=row.error,
            attempts=row.attempts,
            failed_at=row.failed_at,
            resolved_at=row.resolved_at,
            envelope=msgspec.json.decode(row.envelope, type=EventEnvelope),
        )
