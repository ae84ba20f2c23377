"""How memory reacts to other modules' events: turns into working memory, deletions."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.events import EventHandlers, user_of
from contracts.conversation import (
    MessageAppended,
    SessionDeleted,
)
from contracts.events import EventEnvelope
from contracts.users import UserDeletionRequested

from .long_term import LongTermMemory
from .models import (
    IdempotencyKeyRow,
    WorkingSessionRow,
)
from .part import MemoryContext, MemoryPart
from .stated_facts import stated_facts

MAX_TURN_CHARS = 2_000  # of a message, kept as a turn in working memory


class MemoryReactions(MemoryPart):
    """The handlers the memory module's consumer runs, one per event class."""

    def __init__(self, context: MemoryContext, long_term: LongTermMemory) -> None:
        super().__init__(context)
        self._long_term = long_term

    def event_handlers(self) -> EventHandlers:
        return (
            EventHandlers()
            .on(MessageAppended, self._on_message_appended)
            .on(SessionDeleted, self._on_session_deleted)
            .on(UserDeletionRequested, self._on_user_deletion)
        )

    async def _on_message_appended(
        self, tx: AsyncSession, event: MessageAppended, envelope: EventEnvelope
    ) -> None:
        """The session's working memory gains the turn, and the facts the user stated."""
        user_id = user_of(event)
        if await _cleaned_up(tx, event.session_id):
            return  # a late message of a deleted session must not bring its memory back
        if await tx.get(WorkingSessionRow, event.session_id) is None:
            # The conversation module's event is its word on whose session this is.
            tx.add(
                WorkingSessionRow(
                    session_id=event.session_id, user_id=user_id, created_at=self._clock()
                )
            )
        facts = stated_facts(event.content) if event.role == "user" else []
        items = [
            self._working.item(
                kind="turn",
                content=event.content[:MAX_TURN_CHARS],
                role=event.role,
                memory_id=None,
                message_id=event.message_id,
                added_at=event.created_at,
            ),
            *(
                self._working.item(
                    kind="fact",
                    content=f,
                    role=None,
                    memory_id=None,
                    message_id=event.message_id,
                    added_at=event.created_at,
                )
                for f in facts
            ),
        ]
        held = await self._working.read_or_empty(event.session_id, user_id)
        # A redelivery after the store took them (and before this commit) adds nothing.
        done = {(i.kind, i.content) for i in held.items if i.message_id == event.message_id}
        for item in items:
            if (item.kind, item.content) not in done:
                await self._working.append(event.session_id, user_id, item)

    async def _on_session_deleted(
        self, tx: AsyncSession, event: SessionDeleted, envelope: EventEnvelope
    ) -> None:
        await self._working.store.delete([str(event.session_id)])
        await tx.execute(
            delete(WorkingSessionRow).where(WorkingSessionRow.session_id == event.session_id)
        )
        tx.add(
            IdempotencyKeyRow(
                key=f"event:{envelope.id}",
                operation="cleanup",
                session_id=event.session_id,
                created_at=self._clock(),
            )
        )

    async def _on_user_deletion(
        self, tx: AsyncSession, event: UserDeletionRequested, envelope: EventEnvelope
    ) -> None:
        await self._long_term.forget_user(tx, user_of(event))


async def _cleaned_up(tx: AsyncSession, session_id: uuid.UUID) -> bool:
    found = await tx.scalar(
        select(IdempotencyKeyRow.key)
        .where(IdempotencyKeyRow.session_id == session_id, IdempotencyKeyRow.operation == "cleanup")
        .limit(1)
    )
    return found is not None
