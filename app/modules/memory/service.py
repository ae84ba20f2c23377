"""MemoryService: implements `contracts.memory.MemoryAPI`, each call handed to its part.

The parts (one file each): `SessionMemory` (working memory), `LongTermMemory`, `Recaller`,
`RelationshipGraph`, `MemoryStatistics`, and `MemoryReactions` (other modules' events).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.embedding import create_embedder
from app.kernel.events import EventHandlers, Outbox, ReplaysOutbox
from app.kernel.health import ComponentHealth
from app.kernel.settings import Settings
from contracts.conversation import ConversationAPI
from contracts.memory import (
    AddedMemory,
    MemoryCategory,
    MemoryEntry,
    MemoryEntryCreate,
    MemoryEntryUpdate,
    MemoryPage,
    MemoryStats,
    RecallQuery,
    RecallResult,
    Relationship,
    RelationshipCreate,
    Relationships,
    WorkingMemory,
    WorkingMemoryItemCreate,
)
from contracts.paging import DEFAULT_PAGE_LIMIT

from .database_store import DatabaseStore
from .long_term import LongTermMemory
from .models import EVENT_TABLES
from .part import MemoryContext
from .reactions import MemoryReactions
from .recaller import Recaller
from .redis_store import RedisStore
from .relationship_graph import RelationshipGraph
from .session_memory import SessionMemory
from .settings import MemorySettings
from .statistics import MemoryStatistics
from .working_memory import WorkingMemories
from .working_store import WorkingStore


class MemoryService(ReplaysOutbox):
    def __init__(
        self,
        database: ModuleDatabase,
        settings: Settings,
        *,
        conversation: ConversationAPI,
        store: WorkingStore | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if store is None:  # tests may hand in the in-process store
            store = (
                RedisStore(settings.redis_url, settings.redis_key_prefix)
                if settings.redis_url
                else DatabaseStore(database)
            )
        self._db = database.claim("memory")
        self._outbox = Outbox("memory", EVENT_TABLES)
        self._store = store
        context = MemoryContext(
            db=self._db,
            outbox=self._outbox,
            settings=settings.of(MemorySettings),
            conversation=conversation,
            working=WorkingMemories(store, settings, clock),
            embedder=create_embedder(settings.embedding_model, settings),
            clock=clock,
        )
        self._session = SessionMemory(context)
        self._long_term = LongTermMemory(context)
        self._recaller = Recaller(context)
        self._graph = RelationshipGraph(context)
        self._statistics = MemoryStatistics(context)
        self._reactions = MemoryReactions(context, self._long_term)

    # -- working memory ----------------------------------------------------------------

    async def initialize(
        self, *, session_id: uuid.UUID, user_id: str, idempotency_key: str
    ) -> WorkingMemory:
        return await self._session.initialize(
            session_id=session_id, user_id=user_id, idempotency_key=idempotency_key
        )

    async def cleanup(self, *, session_id: uuid.UUID, idempotency_key: str) -> None:
        await self._session.cleanup(session_id=session_id, idempotency_key=idempotency_key)

    async def working_memory(self, *, session_id: uuid.UUID, user_id: str) -> WorkingMemory:
        return await self._session.working_memory(session_id=session_id, user_id=user_id)

    async def remember_in_session(
        self, *, session_id: uuid.UUID, user_id: str, item: WorkingMemoryItemCreate
    ) -> WorkingMemory:
        return await self._session.remember_in_session(
            session_id=session_id, user_id=user_id, item=item
        )

    # -- long-term memory --------------------------------------------------------------

    async def add(self, *, user_id: str, entry: MemoryEntryCreate) -> AddedMemory:
        return await self._long_term.add(user_id=user_id, entry=entry)

    async def get(self, *, memory_id: uuid.UUID, user_id: str) -> MemoryEntry:
        return await self._long_term.get(memory_id=memory_id, user_id=user_id)

    async def list_memories(
        self,
        *,
        user_id: str,
        category: MemoryCategory | None = None,
        include_superseded: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> MemoryPage:
        return await self._long_term.list_memories(
            user_id=user_id,
            category=category,
            include_superseded=include_superseded,
            cursor=cursor,
            limit=limit,
        )

    async def update(
        self, *, memory_id: uuid.UUID, user_id: str, change: MemoryEntryUpdate
    ) -> MemoryEntry:
        return await self._long_term.update(memory_id=memory_id, user_id=user_id, change=change)

    async def history(self, *, memory_id: uuid.UUID, user_id: str) -> list[MemoryEntry]:
        return await self._long_term.history(memory_id=memory_id, user_id=user_id)

    async def delete(self, *, memory_id: uuid.UUID, user_id: str) -> None:
        await self._long_term.delete(memory_id=memory_id, user_id=user_id)

    async def delete_user(self, *, user_id: str) -> None:
        await self._long_term.delete_user(user_id=user_id)

    # -- recall and relationships --------------------------------------------------------

    async def recall(self, *, user_id: str, query: RecallQuery) -> RecallResult:
        return await self._recaller.recall(user_id=user_id, query=query)

    async def relate(
        self, *, user_id: str, source_id: uuid.UUID, relationship: RelationshipCreate
    ) -> Relationship:
        return await self._graph.relate(
            user_id=user_id, source_id=source_id, relationship=relationship
        )

    async def relationships(self, *, memory_id: uuid.UUID, user_id: str) -> Relationships:
        return await self._graph.relationships(memory_id=memory_id, user_id=user_id)

    # -- events, stats, health -------------------------------------------------------------

    def event_handlers(self) -> EventHandlers:
        return self._reactions.event_handlers()

    async def flush_events(self, tx: AsyncSession) -> None:
        await self._reactions.flush_events(tx)

    async def stats(self, *, since: datetime, until: datetime) -> MemoryStats:
        return await self._statistics.stats(since=since, until=until)

    async def component_health(self) -> dict[str, ComponentHealth]:
        return await self._statistics.component_health()

    async def close(self) -> None:
        await self._store.close()
