"""MemoryService: implements `contracts.memory.MemoryAPI`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import msgspec
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.embedding import Embedder, create_embedder
from app.kernel.events import EventHandlers, Outbox, user_of
from app.kernel.health import ComponentHealth
from app.kernel.keyset import newest_first
from app.kernel.percentiles import nearest_rank
from app.kernel.settings import Settings
from app.kernel.validation import validated
from contracts.conversation import (
    ConversationAPI,
    MessageAppended,
    SessionDeleted,
    SessionNotFound,
)
from contracts.errors import InvalidInput, Unavailable
from contracts.events import EventEnvelope, EventPage
from contracts.memory import (
    AddedMemory,
    DuplicateMemory,
    InvalidRelationship,
    MemoryAdded,
    MemoryCategory,
    MemoryDeleted,
    MemoryEntry,
    MemoryEntryCreate,
    MemoryEntryUpdate,
    MemoryPage,
    MemoryStats,
    MemorySuperseded,
    Neighbour,
    RecalledMemory,
    RecallQuery,
    RecallResult,
    Relationship,
    RelationshipCreate,
    Relationships,
    WorkingMemory,
    WorkingMemoryItem,
    WorkingMemoryItemCreate,
    WorkingMemoryNotFound,
)
from contracts.paging import DEFAULT_PAGE_LIMIT
from contracts.users import UserDeletionRequested

from . import recall, relationships, word_index
from .entries import (
    content_hash,
    current,
    current_duplicate,
    latest_version,
    owned,
    to_entry,
    versions,
)
from .models import (
    EVENT_TABLES,
    IdempotencyKeyRow,
    MemoryEntryRow,
    MemoryRelationshipRow,
    RecallLogRow,
    WorkingSessionRow,
)
from .redis_store import RedisStore
from .settings import MemorySettings
from .stated_facts import stated_facts
from .working_memory import WorkingMemories
from .working_store import InProcessStore, WorkingStore

T = TypeVar("T")
MAX_TURN_CHARS = 2_000  # of a message, kept as a turn in working memory


class MemoryService:
    def __init__(
        self,
        database: ModuleDatabase,
        settings: Settings,
        *,
        conversation: ConversationAPI,
        store: WorkingStore | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database.claim("memory")
        self._outbox = Outbox("memory", EVENT_TABLES)
        self._settings = settings.of(MemorySettings)
        self._conversation = conversation
        self._clock = clock
        if store is None:
            store = (
                RedisStore(settings.redis_url, settings.redis_key_prefix)
                if settings.redis_url
                else InProcessStore()
            )
        self._working = WorkingMemories(store, settings, clock)
        self._embedder: Embedder = create_embedder(settings.embedding_model, settings)

    # -- working memory ----------------------------------------------------------------

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

    async def _check_source_session(self, session_id: uuid.UUID, user_id: str) -> None:
        """A reference to another module's row is checked through its owner when stored:
        the session must exist and be the caller's (another user's id reads as missing)."""
        try:
            await self._conversation.get_session(session_id=session_id, user_id=user_id)
        except SessionNotFound:
            raise InvalidInput(
                f"source_session_id: you have no session {session_id}", field="source_session_id"
            ) from None

    # -- long-term memory --------------------------------------------------------------

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
            await self._forget_user(tx, user_id)

    async def _forget_user(self, tx: AsyncSession, user_id: str) -> None:
        sessions = (
            await tx.scalars(
                select(WorkingSessionRow.session_id).where(WorkingSessionRow.user_id == user_id)
            )
        ).all()
        # The store first: if it is down, nothing is deleted and the caller can retry.
        await self._working.store.delete([str(s) for s in sessions])
        await self._delete_where(tx, MemoryEntryRow.user_id == user_id)
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
        await tx.execute(delete(MemoryEntryRow).where(MemoryEntryRow.id.in_(ids)))

    # -- events ------------------------------------------------------------------------

    async def replay_events(self, *, after: int = 0, limit: int = 500) -> EventPage:
        return await self._outbox.replay(self._db, after=after, limit=limit)

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
        await self._forget_user(tx, user_of(event))

    # -- recall ------------------------------------------------------------------------

    async def recall(self, *, user_id: str, query: RecallQuery) -> RecallResult:
        query = validated(query)
        started = time.perf_counter()
        vector = (await self._embedder.embed([query.query]))[0]
        now = self._clock()
        where = recall.conditions(user_id, query.filters, now)
        async with self._db.read() as tx:
            rows, lexical = await recall.candidates(
                tx,
                user_id=user_id,
                query=query.query,
                query_vector=vector,
                model_name=self._embedder.model_name,
                where=where,
                limit=query.limit,
            )
        scored = sorted(
            (
                (
                    recall.score(
                        row,
                        query_vector=vector,
                        model_name=self._embedder.model_name,
                        lexical=lexical.get(row.id, 0.0),
                        half_life_s=self._settings.half_life_s,
                        now=now,
                    ),
                    row,
                )
                for row in rows
            ),
            key=lambda pair: (-pair[0].score, pair[1].id),
        )[: query.limit]
        latency_ms = (time.perf_counter() - started) * 1000
        async with self._db.transaction() as tx:
            ids = [row.id for _, row in scored]
            if ids:  # recalled memories count as used: their recency restarts
                await tx.execute(
                    update(MemoryEntryRow)
                    .where(MemoryEntryRow.id.in_(ids))
                    .values(access_count=MemoryEntryRow.access_count + 1, last_accessed_at=now)
                )
            tx.add(
                RecallLogRow(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    results=len(ids),
                    latency_ms=latency_ms,
                    created_at=now,
                )
            )
        return RecallResult(
            items=[RecalledMemory(entry=to_entry(row), factors=factors) for factors, row in scored],
            model_name=self._embedder.model_name,
            latency_ms=round(latency_ms, 3),
        )

    # -- relationships -----------------------------------------------------------------

    async def relate(
        self, *, user_id: str, source_id: uuid.UUID, relationship: RelationshipCreate
    ) -> Relationship:
        relationship = validated(relationship)
        async with self._db.transaction() as tx:
            source = await owned(tx, source_id, user_id)
            target = await owned(tx, relationship.target_id, user_id)
            if source.root_id == target.root_id:
                raise InvalidRelationship("a memory cannot be related to itself", field="target_id")
            existing = await tx.scalar(
                select(MemoryRelationshipRow).where(
                    MemoryRelationshipRow.source_id == source.root_id,
                    MemoryRelationshipRow.target_id == target.root_id,
                    MemoryRelationshipRow.relation_type == relationship.relation_type,
                )
            )
            if existing is not None:
                return relationships.to_relationship(existing)
            if relationship.relation_type == "supersedes":
                await relationships.check_no_supersedes_cycle(tx, source.root_id, target.root_id)
                relationships.close_superseded(
                    await latest_version(tx, target.root_id),
                    await latest_version(tx, source.root_id),
                    self._clock(),
                )
            row = MemoryRelationshipRow(
                id=uuid.uuid4(),
                source_id=source.root_id,
                target_id=target.root_id,
                relation_type=relationship.relation_type,
                created_at=self._clock(),
            )
            tx.add(row)
        return relationships.to_relationship(row)

    async def relationships(self, *, memory_id: uuid.UUID, user_id: str) -> Relationships:
        async with self._db.read() as tx:
            root = (await owned(tx, memory_id, user_id)).root_id
            own = await relationships.edges_of(tx, {root})
            neighbours: list[tuple[uuid.UUID, int, MemoryRelationshipRow]] = []
            seen, frontier = {root}, {root}
            for depth in (1, 2):
                edges = own if depth == 1 else await relationships.edges_of(tx, frontier)
                reached: set[uuid.UUID] = set()
                for edge in edges:
                    for end in (edge.source_id, edge.target_id):
                        if end not in seen and (
                            edge.source_id in frontier or edge.target_id in frontier
                        ):
                            seen.add(end)
                            reached.add(end)
                            neighbours.append((end, depth, edge))
                frontier = reached
            entries = {
                root_id: to_entry(await latest_version(tx, root_id)) for root_id, _, _ in neighbours
            }
        return Relationships(
            relationships=[relationships.to_relationship(e) for e in own],
            neighbours=[
                Neighbour(
                    entry=entries[root_id], depth=depth, via=relationships.to_relationship(edge)
                )
                for root_id, depth, edge in neighbours
            ],
        )

    # -- stats and health --------------------------------------------------------------

    async def stats(self, *, since: datetime, until: datetime) -> MemoryStats:
        now = self._clock()
        async with self._db.read() as tx:
            per_category = dict(
                (
                    await tx.execute(
                        select(MemoryEntryRow.category, func.count())
                        .where(current(now))
                        .group_by(MemoryEntryRow.category)
                    )
                ).all()
            )
            added = await tx.scalar(
                select(func.count())
                .select_from(MemoryEntryRow)
                .where(MemoryEntryRow.created_at >= since, MemoryEntryRow.created_at < until)
            )
            in_range = (RecallLogRow.created_at >= since, RecallLogRow.created_at < until)
            recalls, (p95,) = await nearest_rank(tx, RecallLogRow.latency_ms, in_range, (0.95,))
        try:
            live: int | None = await self._working.store.live_sessions(now=now)
        except Unavailable:
            live = None
        return MemoryStats(
            since=since,
            until=until,
            entries=sum(per_category.values()),
            entries_added=added or 0,
            per_category=per_category,
            recalls=recalls,
            p95_recall_ms=p95,
            working_memory_sessions_live=live,
        )

    async def component_health(self) -> dict[str, ComponentHealth]:
        store = self._working.store
        try:
            await store.ping()
        except Unavailable as exc:
            return {
                "working_memory": ComponentHealth(ok=False, error=exc.message, detail=store.backend)
            }
        return {"working_memory": ComponentHealth(ok=True, detail=store.backend)}

    async def close(self) -> None:
        await self._working.store.close()


def _given(value: T | msgspec.UnsetType, fallback: T) -> T:
    return fallback if isinstance(value, msgspec.UnsetType) else value


async def _cleaned_up(tx: AsyncSession, session_id: uuid.UUID) -> bool:
    found = await tx.scalar(
        select(IdempotencyKeyRow.key)
        .where(IdempotencyKeyRow.session_id == session_id, IdempotencyKeyRow.operation == "cleanup")
        .limit(1)
    )
    return found is not None
