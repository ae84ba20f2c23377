"""The RAG module's face: the shared knowledge base, its search, and its index."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from .errors import NotFound
from .events import Event, EventSource

MAX_TEXT_CHARS = 1_000_000
MAX_QUERY_CHARS = 2_000
MAX_BATCH = 100

Source = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"\S")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]
Query = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\w")]
MetadataKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Scalar = str | int | float | bool
MAX_FILTER_KEYS = 32
SearchMode = Literal["hybrid", "vector", "lexical"]
IngestStatus = Literal["created", "replaced", "unchanged"]
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class DocumentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: Source  # e.g. a path or URL; re-ingesting a source replaces its chunks
    text: Text
    metadata: dict[MetadataKey, Any] = msgspec.field(default_factory=dict)


class DocumentBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    documents: Annotated[list[DocumentCreate], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class IngestResult(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    status: IngestStatus
    chunks: int
    document_ids: list[UUID]  # one per chunk, in order


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """One stored chunk of a source."""

    id: UUID
    source: str
    chunk_index: int
    content: str
    metadata: dict[str, Any]
    created_at: datetime


class SearchFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Equality on each key; a bounded number, since each becomes a condition of the query.
    metadata: Annotated[dict[MetadataKey, Scalar], msgspec.Meta(max_length=MAX_FILTER_KEYS)] = (
        msgspec.field(default_factory=dict)
    )
    source_prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None


class SearchRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    query: Query
    k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    mode: SearchMode = "hybrid"
    filters: SearchFilters = msgspec.field(default_factory=SearchFilters)
    # k pieces of evidence from different places: at most this many chunks of one source
    # while other sources still match; slots left over are filled in rank order. None
    # ranks chunks alone, as many of one source as score highest.
    max_per_source: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = 1


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    document_id: UUID
    source: str
    chunk_index: int
    content: str
    metadata: dict[str, Any]
    score: float  # what ranked it: the fused score in hybrid, else the mode's own score
    vector_score: float | None  # cosine similarity (vector and hybrid searches)
    vector_rank: int | None
    lexical_score: float | None  # BM25: FTS5's on SQLite, computed in SQL on PostgreSQL
    lexical_rank: int | None


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    mode: SearchMode
    model_name: str  # whose vectors answered
    hits: list[SearchHit]
    latency_ms: float


class ReindexProgress(msgspec.Struct, frozen=True, kw_only=True):
    model_name: str
    embedded: int  # chunks that have this model's vector
    total: int
    active: bool  # True once every chunk has one and searches use this model


class RagStats(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    searches: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    zero_result_rate: float | None
    sources: int
    chunks: int
    vectors_by_model: dict[str, int]
    active_model: str
    reindexing_to: str | None


class DocumentNotFound(NotFound):
    """No chunk with that id."""


# -- events -----------------------------------------------------------------------------


class DocumentIngested(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "DocumentIngested"
    AGGREGATE: ClassVar[str] = "source"
    source: str
    chunks: int
    replaced: bool  # an earlier text of this source was there
    ingested_at: datetime

    def aggregate_id(self) -> str:
        return self.source


class SearchPerformed(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "SearchPerformed"
    AGGREGATE: ClassVar[str] = "search"
    search_id: UUID
    mode: str
    k: int
    hits: int
    latency_ms: float
    searched_at: datetime

    def aggregate_id(self) -> str:
        return str(self.search_id)


@runtime_checkable  # Litestar checks injected dependencies against their annotation
class RagAPI(EventSource, Protocol):
    async def ingest(self, *, documents: list[DocumentCreate]) -> list[IngestResult]:
        """Chunk, embed and store each document. A source whose text is unchanged writes
        nothing; a changed one has its chunks replaced in one transaction."""
        ...

    async def get_document(self, *, document_id: UUID) -> Document: ...

    async def delete_document(self, *, document_id: UUID) -> None:
        """Remove one chunk. Raises `DocumentNotFound`."""
        ...

    async def delete_source(self, *, source: str) -> int:
        """Remove every chunk of a source; returns how many (0 is not an error)."""
        ...

    async def search(self, *, request: SearchRequest) -> SearchResult:
        """Best `k` chunks by the mode. With filters, still `k` when `k` match."""
        ...

    async def reindex_step(self, *, model_name: ModelName, batch_size: int = 64) -> ReindexProgress:
        """Embed up to `batch_size` chunks that lack `model_name`'s vector; once none
        lack one, make it the active model. Call until `active`; safe to interrupt."""
        ...

    async def stats(self, *, since: datetime, until: datetime) -> RagStats: ...
