"""A session's working memory: made by the session saga, read and added to by the agent."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.kernel.validation import validated
from contracts.conversation import (
    SessionNotFound,
)
from contracts.errors import InvalidInput
from contracts.memory import (
    WorkingMemory,
    WorkingMemoryItem,
    WorkingMemoryItemCreate,
    WorkingMemoryNotFound,
)

from .entries import (
    current,
)
from .models import (
    IdempotencyKeyRow,
    MemoryEntryRow,
    WorkingSessionRow,
)
from .part import MemoryPart


class SessionMemory(MemoryPart):
    """initialize / cleanup (saga steps, idempotent by key), read, remember."""

    async def initialize(
        self, *, session_id: uuid.UUID, user_id: str, idempotency_key: str
    ) -> WorkingMemory:
        async with self._db.read() as tx:
            done = await tx.get(IdempotencyKeyRow, idempotency_key)
            owner = await tx.get(WorkingSessionRow, session_id)
        if owner is not None and owner.user_id != user_id:
            raise WorkingMemoryNotFound(
                f"session {session_id} is another user's", field="session_id"
            )
        if done is not None:
            return await self._working.read_or_empty(session_id, user_id)
        working = await self._working.create(session_id, user_id, await self._seeds(user_id))
        await self._record(idempotency_key, "initialize", session_id, owner=user_id)
        return working

    async def cleanup(self, *, session_id: uuid.UUID, idempotency_key: str) -> None:
        async with self._db.read() as tx:
            if await tx.get(IdempotencyKeyRow, idempotency_key) is not None:
                return
        await self._working.store.delete([str(session_id)])
        await self._record(idempotency_key, "cleanup", session_id, owner=None)

    async def working_memory(self, *, session_id: uuid.UUID, user_id: str) -> WorkingMemory:
        await self._check_owner(session_id, user_id)
        return await self._working.read(session_id, user_id)

    async def remember_in_session(
        self, *, session_id: uuid.UUID, user_id: str, item: WorkingMemoryItemCreate
    ) -> WorkingMemory:
        item = validated(item)
        if item.kind == "fact" and item.role is not None:
            raise InvalidInput("a fact has no role; only turns do", field="role")
        if not await self._owns(session_id, user_id):
            # Not made by the session saga yet: the conversation module says whose it is.
            try:
                await self._conversation.get_session(session_id=session_id, user_id=user_id)
            except SessionNotFound:
                raise WorkingMemoryNotFound(
                    f"no session {session_id}", field="session_id"
                ) from None
            await self.initialize(
                session_id=session_id, user_id=user_id, idempotency_key=f"first-use:{session_id}"
            )
        entry = self._working.item(
            kind=item.kind, content=item.content, role=item.role, memory_id=None
        )
        return await self._working.append(session_id, user_id, entry)

    async def _seeds(self, user_id: str) -> list[WorkingMemoryItem]:
        if self._settings.seed_count == 0:
            return []
        async with self._db.read() as tx:
            rows = (
                await tx.scalars(
                    select(MemoryEntryRow)
                    .where(MemoryEntryRow.user_id == user_id, current(self._clock()))
                    .order_by(
                        MemoryEntryRow.importance.desc(), MemoryEntryRow.last_accessed_at.desc()
                    )
                    .limit(self._settings.seed_count)
                )
            ).all()
        return [
            self._working.item(kind="fact", content=r.content, role=None, memory_id=r.id)
            for r in rows
        ]

    async def _record(
        self, key: str, operation: str, session_id: uuid.UUID, *, owner: str | None
    ) -> None:
        """Mark the call done (and who owns the session) once its effect is in place;
        a crash before this only means the retry does the idempotent effect again."""
        try:
            async with self._db.transaction() as tx:
                if owner is not None and await tx.get(WorkingSessionRow, session_id) is None:
                    tx.add(
                        WorkingSessionRow(
                            session_id=session_id, user_id=owner, created_at=self._clock()
                        )
                    )
                if owner is None:
                    await tx.execute(
                        delete(WorkingSessionRow).where(WorkingSessionRow.session_id == session_id)
                    )
                tx.add(
                    IdempotencyKeyRow(
                        key=key,
                        operation=operation,
                        session_id=session_id,
                        created_at=self._clock(),
                    )
                )
        except IntegrityError:
            pass  # a concurrent call with the same key (or session) recorded it first

    async def _owns(self, session_id: uuid.UUID, user_id: str) -> bool:
        async with self._db.read() as tx:
            owner = await tx.get(WorkingSessionRow, session_id)
        return owner is not None and owner.user_id == user_id

    async def _check_owner(self, session_id: uuid.UUID, user_id: str) -> None:
        if not await self._owns(session_id, user_id):
            raise WorkingMemoryNotFound(
                f"session {session_id} has no working memory of yours", field="session_id"
            )
