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
from contracts.memory import WorkingMemoryItem
from contracts.users import UserDeletionRequested

from .long_term import LongTermMemory
from .models import (
    IdempotencyKeyRow,
    WorkingSessionRow,
)
from .part import MemoryContext, MemoryPart
from .stated_facts import stated_facts

MAX_TURN_CHARS = 2_000  # of a message, kept as a turn in working memory
_PENDING = "memory.pending_messages"  # in the consumer's transaction's `info`


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
        """Held until the end of the transaction (`flush_events`): a batch of messages
        then costs a few queries per session, not a few per message."""
        tx.info.setdefault(_PENDING, []).append(event)

    async def flush_events(self, tx: AsyncSession) -> None:
        """Each session's working memory gains its turns, and the facts the user stated,
        in the order the messages came."""
        events: list[MessageAppended] = tx.info.pop(_PENDING, [])
        if not events:
            return
        by_session: dict[uuid.UUID, list[MessageAppended]] = {}
        for event in events:
            by_session.setdefault(event.session_id, []).append(event)
        # A late message of a deleted session must not bring its memory back.
        cleaned = set(
            await tx.scalars(
                select(IdempotencyKeyRow.session_id).where(
                    IdempotencyKeyRow.session_id.in_(by_session),
                    IdempotencyKeyRow.operation == "cleanup",
                )
            )
        )
        known = set(
            await tx.scalars(
                select(WorkingSessionRow.session_id).where(
                    WorkingSessionRow.session_id.in_(by_session)
                )
            )
        )
        await self._working.store.prefetch([str(s) for s in by_session if s not in cleaned])
        for session_id, messages in by_session.items():
            if session_id in cleaned:
                continue
            user_id = user_of(messages[0])
            if session_id not in known:
                # The conversation module's event is its word on whose session this is.
                tx.add(
                    WorkingSessionRow(
                        session_id=session_id, user_id=user_id, created_at=self._clock()
                    )
                )
            held = await self._working.read_or_empty(session_id, user_id)
            # A redelivery after the store took them (and before this commit) adds nothing.
            done = {(i.kind, i.content, i.message_id) for i in held.items}
            items = [
                item
                for message in messages
                for item in self._items_of(message)
                if (item.kind, item.content, item.message_id) not in done
            ]
            if items:
                await self._working.append(session_id, user_id, *items)

    def _items_of(self, event: MessageAppended) -> list[WorkingMemoryItem]:
        facts = stated_facts(event.content) if event.role == "user" else []
        return [
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

    async def _on_session_deleted(
        self, tx: AsyncSession, event: SessionDeleted, envelope: EventEnvelope
    ) -> None:
        await self.flush_events(tx)  # messages before the deletion, in their order
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
        await self.flush_events(tx)
        await self._long_term.forget_user(tx, user_of(event))
