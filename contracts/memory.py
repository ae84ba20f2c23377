"""The memory module's face: working memory per session, long-term memories per user.

Working memory is short-lived (a TTL renewed on use, a size cap) and lives in Redis when
one is configured. Long-term memories are versioned: an update adds a version that
supersedes the old one, so what was known before is never lost, only marked past.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from .errors import Conflict, InvalidInput, NotFound, Unavailable
from .events import Event, EventSource
from .paging import DEFAULT_PAGE_LIMIT

MemoryCategory = Literal["fact", "preference", "goal", "event", "instruction", "other"]
RelationType = Literal["relates_to", "supports", "contradicts", "supersedes", "part_of"]
WorkingItemKind = Literal["turn", "fact"]
TurnRole = Literal["user", "assistant", "system", "tool"]
MemoryContent = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000, pattern=r"\S")]
Importance = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
RecallLimit = Annotated[int, msgspec.Meta(ge=1, le=100)]
QueryText = Annotated[str, msgspec.Meta(min_length=1, max_length=2_000, pattern=r"\S")]


class MemoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID  # of this version
    root_id: UUID  # of the first version: the same for every version of one memory
    user_id: str
    content: str
    category: MemoryCategory
    importance: float
    model_name: str  # the embedding model of its vector
    source_session_id: UUID | None
    access_count: int
    last_accessed_at: datetime
    valid_from: datetime
    valid_to: datetime | None  # None: still valid
    superseded_by: UUID | None  # the version that replaced it
    created_at: datetime


class MemoryEntryCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    content: MemoryContent
    category: MemoryCategory = "fact"
    importance: Importance = 0.5
    source_session_id: UUID | None = None
    valid_to: datetime | None = None  # it stops being true then (and leaves recall)


class MemoryEntryUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new version: fields not given are kept from the current one."""

    content: MemoryContent | msgspec.UnsetType = msgspec.UNSET
    category: MemoryCategory | msgspec.UnsetType = msgspec.UNSET
    importance: Importance | msgspec.UnsetType = msgspec.UNSET
    valid_to: datetime | msgspec.UnsetType | None = msgspec.UNSET


class AddedMemory(msgspec.Struct, frozen=True, kw_only=True):
    entry: MemoryEntry
    merged: bool  # an exact duplicate of a current memory: that one, touched, is returned


class MemoryPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MemoryEntry]
    next_cursor: str | None


class RecallFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    categories: list[MemoryCategory] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_superseded: bool = False  # past versions and expired memories too


class RecallQuery(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    query: QueryText
    limit: RecallLimit = 10
    filters: RecallFilters = msgspec.field(default_factory=RecallFilters)


class ScoreFactors(msgspec.Struct, frozen=True, kw_only=True):
    """score = relevance + importance + recency, each in [0, 1]."""

    semantic: float  # cosine similarity of the embeddings, below 0 counted as 0
    lexical: float  # word-match rank, scaled so the best candidate is 1
    relevance: float  # 0.7 semantic + 0.3 lexical
    importance: float
    recency: float  # 0.5 ** (time since last access / half-life)
    score: float


class RecalledMemory(msgspec.Struct, frozen=True, kw_only=True):
    entry: MemoryEntry
    factors: ScoreFactors


class RecallResult(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RecalledMemory]  # best first
    model_name: str
    latency_ms: float


class RelationshipCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    target_id: UUID
    relation_type: RelationType = "relates_to"


class Relationship(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    source_id: UUID
    target_id: UUID
    relation_type: RelationType
    created_at: datetime


class Neighbour(msgspec.Struct, frozen=True, kw_only=True):
    entry: MemoryEntry
    depth: int  # 1 or 2 hops from the entry asked about
    via: Relationship  # the edge that reached it


class Relationships(msgspec.Struct, frozen=True, kw_only=True):
    relationships: list[Relationship]  # the entry's own edges, both directions
    neighbours: list[Neighbour]  # entries within two hops


class WorkingMemoryItemCreate(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    kind: WorkingItemKind
    content: MemoryContent
    role: TurnRole | None = None  # for turns


class WorkingMemoryItem(msgspec.Struct, frozen=True, kw_only=True):
    kind: WorkingItemKind
    content: str
    role: TurnRole | None
    memory_id: UUID | None  # a long-term memory it was seeded from
    added_at: datetime
    message_id: UUID | None = None  # the conversation message it came from


class WorkingMemory(msgspec.Struct, frozen=True, kw_only=True):
    session_id: UUID
    user_id: str
    items: list[WorkingMemoryItem]  # oldest first; the oldest go first past the cap
    expires_at: datetime  # renewed by every read and write
    backend: Literal["redis", "database", "in-process"]  # where the contents live


class MemoryStats(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    entries: int  # current memories (not superseded), all users
    entries_added: int  # versions created in the range
    per_category: dict[str, int]
    recalls: int
    p95_recall_ms: float | None
    working_memory_sessions_live: int | None  # None when the store cannot be reached


class MemoryNotFound(NotFound):
    """No memory with that id belongs to the caller."""


class WorkingMemoryNotFound(NotFound):
    """The session has no working memory, or is not the caller's."""


class MemorySuperseded(Conflict):
    """Only the current version of a memory can be updated."""


class DuplicateMemory(Conflict):
    """An update would make a memory say exactly what another current one says."""


class InvalidRelationship(InvalidInput):
    """An edge from an entry to itself, or a cycle of `supersedes`."""


class WorkingMemoryUnavailable(Unavailable):
    """The working-memory store (Redis) cannot be reached; long-term memory still works."""


# -- events -----------------------------------------------------------------------------


class MemoryAdded(Event, frozen=True, kw_only=True):
    """A new memory (not a new version of one, and not a merged duplicate)."""

    TYPE: ClassVar[str] = "MemoryAdded"
    AGGREGATE: ClassVar[str] = "memory"
    memory_id: UUID
    category: str
    importance: float
    added_at: datetime

    def aggregate_id(self) -> str:
        return str(self.memory_id)


class MemoryDeleted(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "MemoryDeleted"
    AGGREGATE: ClassVar[str] = "memory"
    memory_id: UUID  # the first version's id: every version went
    deleted_at: datetime

    def aggregate_id(self) -> str:
        return str(self.memory_id)


@runtime_checkable  # Litestar checks injected dependencies against their annotation
class MemoryAPI(EventSource, Protocol):
    async def initialize(
        self, *, session_id: UUID, user_id: str, idempotency_key: str
    ) -> WorkingMemory:
        """Create the session's working memory, seeded with the user's most important
        memories. Idempotent: a repeated key, or an existing working memory, changes nothing."""
        ...

    async def cleanup(self, *, session_id: UUID, idempotency_key: str) -> None:
        """Remove the session's working memory. Idempotent, also for a session never seen."""
        ...

    async def working_memory(self, *, session_id: UUID, user_id: str) -> WorkingMemory:
        """Read it (renewing its TTL). Raises `WorkingMemoryNotFound`,
        `WorkingMemoryUnavailable`."""
        ...

    async def remember_in_session(
        self, *, session_id: UUID, user_id: str, item: WorkingMemoryItemCreate
    ) -> WorkingMemory:
        """Append to the session's working memory (creating it for a session the user owns)."""
        ...

    async def add(self, *, user_id: str, entry: MemoryEntryCreate) -> AddedMemory:
        """Store a long-term memory; an exact duplicate of a current one is merged."""
        ...

    async def get(self, *, memory_id: UUID, user_id: str) -> MemoryEntry:
        """Any version of the caller's memories. Raises `MemoryNotFound`."""
        ...

    async def list_memories(
        self,
        *,
        user_id: str,
        category: MemoryCategory | None = None,
        include_superseded: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> MemoryPage:
        """Newest first."""
        ...

    async def update(
        self, *, memory_id: UUID, user_id: str, change: MemoryEntryUpdate
    ) -> MemoryEntry:
        """A new version superseding the current one. Raises `MemorySuperseded` for a past one."""
        ...

    async def history(self, *, memory_id: UUID, user_id: str) -> list[MemoryEntry]:
        """Every version of that memory, oldest first."""
        ...

    async def delete(self, *, memory_id: UUID, user_id: str) -> None:
        """Remove the memory with all its versions and edges."""
        ...

    async def delete_user(self, *, user_id: str) -> None:
        """Remove everything of the user: long-term memories and working memories."""
        ...

    async def recall(self, *, user_id: str, query: RecallQuery) -> RecallResult:
        """The caller's memories best for the query: candidates by meaning and by words,
        scored by relevance, importance and recency. Touches what it returns."""
        ...

    async def relate(
        self, *, user_id: str, source_id: UUID, relationship: RelationshipCreate
    ) -> Relationship:
        """An edge between two of the caller's memories (the same edge again returns it)."""
        ...

    async def relationships(self, *, memory_id: UUID, user_id: str) -> Relationships:
        """The entry's edges, and its neighbours to depth 2."""
        ...

    async def stats(self, *, since: datetime, until: datetime) -> MemoryStats:
        """Across all users (an admin view)."""
        ...
