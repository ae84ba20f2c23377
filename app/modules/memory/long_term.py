"""A user's long-term memories: versioned entries, merged duplicates, deletion."""

from __future__ import annotations

import uuid
from typing import TypeVar

import msgspec
from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.keyset import newest_first
from app.kernel.validation import validated
from contracts.conversation import (
    SessionNotFound,
)
from contracts.errors import InvalidInput
from contracts.memory import (
    AddedMemory,
    DuplicateMemory,
    MemoryAdded,
    MemoryCategory,
    MemoryDeleted,
    MemoryEntry,
    MemoryEntryCreate,
    MemoryEntryUpdate,
    MemoryPage,
    MemorySuperseded,
)
from contracts.paging import DEFAULT_PAGE_LIMIT

from . import vector_index, word_index
from .entries import (
    content_hash,
    current,
    current_duplicate,
    owned,
    to_entry,
    versions,
)
from .models import (
    MemoryEntryRow,
    MemoryRelationshipRow,
    RecallLogRow,
    WorkingSessionRow,
)
from .part import MemoryPart

T = TypeVar("T")


class LongTermMemory(MemoryPart):
    """add, read, list, update (a new version), history, delete, forget a user."""

    async def add(self, *, user_id: str, entry: MemoryEntryCreate) -> AddedMemory:
        entry = validated(entry)
        if entry.source_session_id is not None:
            await self._check_source_session(entry.source_session_id, user_id)
        digest = content_hash(entry.content)
        merged = await self._merge_duplicate(user_id, digest, entry.importance)
        if merged is not None:
            return AddedMemory(entry=merged, merged=True)
        vector = (await self._embedder.embed([entry.content]))[0]
        now = self._clock()
        row_id = uuid.uuid4()
        row = MemoryEntryRow(
            id=row_id,
            root_id=row_id,
            user_id=user_id,
            content=entry.content,
            category=entry.category,
            importance=entry.importance,
            embedding=vector,
            model_name=self._embedder.model_name,
            content_hash=digest,
            source_session_id=entry.source_session_id,
            access_count=0,
            last_accessed_at=now,
            valid_from=now,
            valid_to=entry.valid_to,
            superseded_by=None,
            created_at=now,
        )
        try:
            async with self._db.transaction() as tx:
                tx.add(row)
                await tx.flush()
                await word_index.add(tx, [row])
                await vector_index.add(tx, [row])
                await self._outbox.add(
                    tx,
                    MemoryAdded(
                        user_id=user_id,
                        memory_id=row.id,
                        category=row.category,
                        importance=row.importance,
                        added_at=now,
                    ),
                    occurred_at=now,
                )
        except IntegrityError:
            # The same content, added concurrently, won: merge into it.
            merged = await self._merge_duplicate(user_id, digest, entry.importance)
            if merged is None:
                raise
            return AddedMemory(entry=merged, merged=True)
        return AddedMemory(entry=to_entry(row), merged=False)

    async def _merge_duplicate(
        self, user_id: str, digest: str, importance: float
    ) -> MemoryEntry | None:
        async with self._db.transaction() as tx:
            row = await current_duplicate(tx, user_id, digest)
            if row is None:
                return None
            row.importance = max(row.importance, importance)
            row.access_count += 1
            row.last_accessed_at = self._clock()
            return to_entry(row)

    async def _check_source_session(self, session_id: uuid.UUID, user_id: str) -> None:
        """A reference to another module's row is checked through its owner when stored:
        the session must exist and be the caller's (another user's id reads as missing)."""
        try:
            await self._conversation.get_session(session_id=session_id, user_id=user_id)
        except SessionNotFound:
            raise InvalidInput(
                f"source_session_id: you have no session {session_id}", field="source_session_id"
            ) from None

    async def get(self, *, memory_id: uuid.UUID, user_id: str) -> MemoryEntry:
        async with self._db.read() as tx:
            return to_entry(await owned(tx, memory_id, user_id))

    async def list_memories(
        self,
        *,
        user_id: str,
        category: MemoryCategory | None = None,
        include_superseded: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> MemoryPage:
        query = select(MemoryEntryRow).where(MemoryEntryRow.user_id == user_id)
        if not include_superseded:
            query = query.where(current(self._clock()))
        if category is not None:
            query = query.where(MemoryEntryRow.category == category)
        async with self._db.read() as tx:
            rows, next_cursor = await newest_first(
                tx,
                query,
                created_at=MemoryEntryRow.created_at,
                id_=MemoryEntryRow.id,
                listing="memories",
                cursor=cursor,
                limit=limit,
            )
        return MemoryPage(items=[to_entry(r) for r in rows], next_cursor=next_cursor)

    async def update(
        self, *, memory_id: uuid.UUID, user_id: str, change: MemoryEntryUpdate
    ) -> MemoryEntry:
        change = validated(change)
        content = change.content if change.content is not msgspec.UNSET else None
        vector = (await self._embedder.embed([content]))[0] if content is not None else None
        now = self._clock()
        async with self._db.transaction() as tx:
            old = await owned(tx, memory_id, user_id)
            if old.superseded_by is not None:
                raise MemorySuperseded(
                    f"memory {memory_id} was superseded by {old.superseded_by}; update that one",
                    field="memory_id",
                )
            new = MemoryEntryRow(
                id=uuid.uuid4(),
                root_id=old.root_id,
                user_id=user_id,
                content=content if content is not None else old.content,
                category=_given(change.category, old.category),
                importance=_given(change.importance, old.importance),
                embedding=vector if vector is not None else old.embedding,
                model_name=self._embedder.model_name if vector is not None else old.model_name,
                content_hash=content_hash(content) if content is not None else old.content_hash,
                source_session_id=old.source_session_id,
                access_count=old.access_count,
                last_accessed_at=now,
                valid_from=now,
                valid_to=_given(change.valid_to, old.valid_to),
                superseded_by=None,
                created_at=now,
            )
            # Close the old version first: the unique index allows one current per content.
            old.superseded_by = new.id
            old.valid_to = now if old.valid_to is None or old.valid_to > now else old.valid_to
            await tx.flush()
            duplicate = await current_duplicate(tx, user_id, new.content_hash)
            if duplicate is not None:
                raise DuplicateMemory(
                    f"memory {duplicate.id} already says that; update or delete it instead",
                    field="content",
                )
            tx.add(new)
            await tx.flush()
            await word_index.add(tx, [new])
            await vector_index.add(tx, [new])
        return to_entry(new)

    async def history(self, *, memory_id: uuid.UUID, user_id: str) -> list[MemoryEntry]:
        async with self._db.read() as tx:
            row = await owned(tx, memory_id, user_id)
            return [to_entry(r) for r in await versions(tx, row.root_id)]

    async def delete(self, *, memory_id: uuid.UUID, user_id: str) -> None:
        async with self._db.transaction() as tx:
            row = await owned(tx, memory_id, user_id)
            await self._delete_where(tx, MemoryEntryRow.root_id == row.root_id)
            now = self._clock()
            await self._outbox.add(
                tx,
                MemoryDeleted(user_id=user_id, memory_id=row.root_id, deleted_at=now),
                occurred_at=now,
            )

    async def delete_user(self, *, user_id: str) -> None:
        async with self._db.transaction() as tx:
            await self.forget_user(tx, user_id)

    async def forget_user(self, tx: AsyncSession, user_id: str) -> None:
        sessions = (
            await tx.scalars(
                select(WorkingSessionRow.session_id).where(WorkingSessionRow.user_id == user_id)
            )
        ).all()
        # The store first: if it is down, nothing is deleted and the caller can retry.
        await self._working.store.delete([str(s) for s in sessions])
        await self._delete_where(tx, MemoryEntryRow.user_id == user_id)
        await vector_index.forget_user(tx, user_id)
        await tx.execute(delete(WorkingSessionRow).where(WorkingSessionRow.user_id == user_id))
        await tx.execute(delete(RecallLogRow).where(RecallLogRow.user_id == user_id))
        await self._outbox.forget_user(tx, user_id)

    @staticmethod
    async def _delete_where(tx: AsyncSession, condition: ColumnElement[bool]) -> None:
        ids = list((await tx.scalars(select(MemoryEntryRow.id).where(condition))).all())
        if not ids:
            return
        await tx.execute(
            delete(MemoryRelationshipRow).where(
                or_(
                    MemoryRelationshipRow.source_id.in_(ids),
                    MemoryRelationshipRow.target_id.in_(ids),
                )
            )
        )
        await word_index.remove(tx, ids)
        await vector_index.remove(tx, ids)
        await tx.execute(delete(MemoryEntryRow).where(MemoryEntryRow.id.in_(ids)))


def _given(value: T | msgspec.UnsetType, fallback: T) -> T:
    return fallback if isinstance(value, msgspec.UnsetType) else value
