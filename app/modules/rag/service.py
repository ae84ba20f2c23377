"""RagService: implements `contracts.rag.RagAPI`.

About 350 lines, as one file: each method is the short orchestration of parts that
already live apart (chunking, ingestion, the lexical and vector indexes, fusion,
diversity, index state); what is left here is the order they are called in.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Mapping
from datetime import datetime

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.embedding import Embedder, create_embedder
from app.kernel.embedding.base import Vectors as Vector
from app.kernel.events import Outbox, ReplaysOutbox
from app.kernel.settings import Settings
from app.kernel.validation import check_metadata_size, validated
from contracts.errors import InvalidInput, Unavailable
from contracts.rag import (
    Document,
    DocumentCreate,
    DocumentNotFound,
    IngestResult,
    RagStats,
    ReindexProgress,
    SearchHit,
    SearchPerformed,
    SearchRequest,
    SearchResult,
)

from . import lexical_index, vector_index
from .diversity import diversified
from .found_chunks import FoundChunk, read_found
from .fusion import fuse
from .index_state import IndexState, load_index_state, save_index_state
from .ingestion import ingest_batch, plan, remove_documents, store_vectors
from .models import EVENT_TABLES, DocumentRow, EmbeddingRow, RetrievalLogRow
from .settings import RagSettings

# Each ranking's depth when hybrid fuses them or diversification picks among them: deep
# enough to hold k sources (measured: bench/retrieval_quality.py).
CANDIDATES_PER_RANKING = 50


class RagService(ReplaysOutbox):
    def __init__(
        self,
        database: ModuleDatabase,
        settings: Settings,
        embedders: Mapping[str, Embedder] | None = None,
    ) -> None:
        """`embedders` serve these model names instead of the kernel's (the benchmarks
        replay vectors computed once)."""
        self._db = database.claim("rag")
        self._settings = settings
        self._chunking = settings.of(RagSettings)
        self._embedders: dict[str, Embedder] = dict(embedders or {})
        self._outbox = Outbox("rag", EVENT_TABLES)

    def _embedder(self, model_name: str) -> Embedder:
        if model_name not in self._embedders:
            self._embedders[model_name] = create_embedder(model_name, self._settings)
        return self._embedders[model_name]

    async def _state(self) -> IndexState:
        async with self._db.read() as tx:
            return await load_index_state(tx, self._settings.embedding_model)

    async def ingest(self, *, documents: list[DocumentCreate]) -> list[IngestResult]:
        documents = [validated(d) for d in documents]
        sources = [d.source for d in documents]
        if len(set(sources)) != len(sources):
            raise InvalidInput("a batch names the same source twice", field="documents")
        for document in documents:
            check_metadata_size(document.metadata)
        plans = [
            plan(d, size=self._chunking.chunk_size, overlap=self._chunking.chunk_overlap)
            for d in documents
        ]
        for _ in range(3):
            results = await ingest_batch(
                self._db,
                plans,
                await self._state(),
                self._embedder,
                self._settings.embedding_model,
                self._outbox,
            )
            if results is not None:
                return results
        raise Unavailable("the index kept changing models during ingest; try again")

    async def get_document(self, *, document_id: uuid.UUID) -> Document:
        async with self._db.read() as tx:
            row = await tx.get(DocumentRow, document_id)
        if row is None:
            raise DocumentNotFound(f"no document {document_id}", field="document_id")
        return Document(
            id=row.id,
            source=row.source,
            chunk_index=row.chunk_index,
            content=row.content,
            metadata=row.meta,
            created_at=row.created_at,
        )

    async def delete_document(self, *, document_id: uuid.UUID) -> None:
        async with self._db.transaction() as tx:
            if await tx.get(DocumentRow, document_id) is None:
                raise DocumentNotFound(f"no document {document_id}", field="document_id")
            await remove_documents(tx, [document_id])

    async def delete_source(self, *, source: str) -> int:
        async with self._db.transaction() as tx:
            return await remove_documents(tx, [row.id for row in await _source_chunks(tx, source)])

    async def search(self, *, request: SearchRequest) -> SearchResult:
        request = validated(request)
        started = time.perf_counter()
        single_list = request.mode != "hybrid" and request.max_per_source is None
        depth = request.k if single_list else max(CANDIDATES_PER_RANKING, request.k)
        # The two rankings run at once, each on its own connection: words need no
        # embedding, so their search overlaps the model's work on the query.
        (model, query_vector, by_vector), by_words = await asyncio.gather(
            self._by_meaning(request, depth), self._by_words(request, depth)
        )
        async with self._db.read() as tx:
            found = await read_found(
                tx,
                list(dict.fromkeys(d for d, _ in [*by_vector, *by_words])),
                model,
                query_vector if request.mode == "hybrid" else None,
            )
        # Hybrid scores the word ranking's finds by meaning too.
        similarity = {
            doc: chunk.similarity for doc, chunk in found.items() if chunk.similarity is not None
        } | dict(by_vector)
        ranked = diversified(
            [
                pair
                for pair in _rank(request.mode, similarity, by_vector, by_words)
                if pair[0] in found
            ],
            lambda pair: found[pair[0]].source,
            request.k,
            request.max_per_source,
        )
        vector_ranks = {doc: rank for rank, (doc, _) in enumerate(by_vector, 1)}
        lexical_seen = {doc: (rank, score) for rank, (doc, score) in enumerate(by_words, 1)}
        hits = [
            _hit(
                found[doc], score, vector_ranks.get(doc), similarity.get(doc), lexical_seen.get(doc)
            )
            for doc, score in ranked
        ]
        latency_ms = (time.perf_counter() - started) * 1000
        searched_at = utcnow()
        async with self._db.transaction() as tx:
            log_row = RetrievalLogRow(
                id=uuid.uuid4(),
                query_hash=hashlib.sha256(request.query.encode()).hexdigest(),
                results=[str(hit.document_id) for hit in hits],
                latency_ms=latency_ms,
                mode=request.mode,
                k=request.k,
                model_name=model,
                created_at=searched_at,
            )
            tx.add(log_row)
            await self._outbox.add(
                tx,
                SearchPerformed(
                    user_id=None,
                    search_id=log_row.id,
                    mode=request.mode,
                    k=request.k,
                    hits=len(hits),
                    latency_ms=round(latency_ms, 3),
                    searched_at=searched_at,
                ),
                occurred_at=searched_at,
            )
        return SearchResult(mode=request.mode, model_name=model, hits=hits, latency_ms=latency_ms)

    async def _by_meaning(
        self, request: SearchRequest, depth: int
    ) -> tuple[str, Vector | None, list[tuple[uuid.UUID, float]]]:
        """(the active model, the query's vector, the vector ranking); no vector and no
        ranking for a lexical search."""
        model = (await self._state()).active_model
        if request.mode == "lexical":
            return model, None, []
        query_vector = (await self._embedder(model).embed([request.query]))[0]
        async with self._db.read() as tx:
            found = await vector_index.search(tx, model, query_vector, depth, request.filters)
        return model, query_vector, found

    async def _by_words(self, request: SearchRequest, depth: int) -> list[tuple[uuid.UUID, float]]:
        if request.mode == "vector":
            return []
        async with self._db.read() as tx:
            return await lexical_index.search(tx, request.query, depth, request.filters)

    async def reindex_step(self, *, model_name: str, batch_size: int = 64) -> ReindexProgress:
        if not 1 <= batch_size <= 1000:
            raise InvalidInput("batch_size must be between 1 and 1000", field="batch_size")
        embedder = self._embedder(model_name)  # unknown names fail here, before any write
        async with self._db.transaction() as tx:
            state = await load_index_state(tx, self._settings.embedding_model)
            if state.active_model != model_name and state.target_model != model_name:
                await save_index_state(tx, state.active_model, model_name)
        async with self._db.read() as tx:
            pending = list(
                await tx.scalars(
                    _without_vector(model_name).order_by(DocumentRow.id).limit(batch_size)
                )
            )
        if pending:
            matrix = await embedder.embed([doc.content for doc in pending])
            async with self._db.transaction() as tx:
                # Chunks deleted or embedded by someone else meanwhile are skipped.
                live = {
                    doc.id: doc
                    for doc in await tx.scalars(
                        _without_vector(model_name).where(
                            DocumentRow.id.in_([doc.id for doc in pending])
                        )
                    )
                }
                keep = [i for i, doc in enumerate(pending) if doc.id in live]
                docs = [live[pending[i].id] for i in keep]
                await store_vectors(tx, model_name, docs, matrix[keep])
        async with self._db.transaction() as tx:
            total = await tx.scalar(select(func.count()).select_from(DocumentRow)) or 0
            embedded = (
                await tx.scalar(select(func.count()).where(EmbeddingRow.model_name == model_name))
                or 0
            )
            state = await load_index_state(tx, self._settings.embedding_model)
            if embedded >= total and state.active_model != model_name:
                await save_index_state(tx, model_name, None)
                state = IndexState(active_model=model_name, target_model=None)
        return ReindexProgress(
            model_name=model_name,
            embedded=embedded,
            total=total,
            active=state.active_model == model_name,
        )

    async def stats(self, *, since: datetime, until: datetime) -> RagStats:
        async with self._db.read() as tx:
            logs = (
                await tx.execute(
                    select(RetrievalLogRow.latency_ms, RetrievalLogRow.results).where(
                        RetrievalLogRow.created_at >= since, RetrievalLogRow.created_at < until
                    )
                )
            ).all()
            sources = await tx.scalar(select(func.count(func.distinct(DocumentRow.source))))
            chunks = await tx.scalar(select(func.count()).select_from(DocumentRow))
            by_model = dict(
                (
                    await tx.execute(
                        select(EmbeddingRow.model_name, func.count()).group_by(
                            EmbeddingRow.model_name
                        )
                    )
                ).all()
            )
            state = await load_index_state(tx, self._settings.embedding_model)
        latencies = [row[0] for row in logs]
        empty = sum(1 for row in logs if not row[1])
        return RagStats(
            since=since,
            until=until,
            searches=len(logs),
            p50_latency_ms=float(np.percentile(latencies, 50)) if latencies else None,
            p95_latency_ms=float(np.percentile(latencies, 95)) if latencies else None,
            zero_result_rate=empty / len(logs) if logs else None,
            sources=sources or 0,
            chunks=chunks or 0,
            vectors_by_model=by_model,
            active_model=state.active_model,
            reindexing_to=state.target_model,
        )


def _rank(
    mode: str,
    similarity: dict[uuid.UUID, float],
    by_vector: list[tuple[uuid.UUID, float]],
    by_words: list[tuple[uuid.UUID, float]],
) -> list[tuple[uuid.UUID, float]]:
    if mode == "vector":
        return by_vector
    if mode == "lexical":
        return by_words
    return fuse(similarity, [d for d, _ in by_vector], by_words)


def _hit(
    chunk: FoundChunk,
    score: float,
    vector_rank: int | None,
    similarity: float | None,
    lexical: tuple[int, float] | None,
) -> SearchHit:
    return SearchHit(
        document_id=chunk.id,
        source=chunk.source,
        chunk_index=chunk.chunk_index,
        content=chunk.content,
        metadata=chunk.metadata,
        score=score,
        vector_rank=vector_rank,
        vector_score=similarity,
        lexical_rank=lexical[0] if lexical else None,
        lexical_score=lexical[1] if lexical else None,
    )


def _without_vector(model_name: str) -> Select[DocumentRow]:
    """Chunks that have no vector of this model yet."""
    return (
        select(DocumentRow)
        .outerjoin(
            EmbeddingRow,
            (EmbeddingRow.document_id == DocumentRow.id) & (EmbeddingRow.model_name == model_name),
        )
        .where(EmbeddingRow.id.is_(None))
    )


async def _source_chunks(tx: AsyncSession, source: str) -> list[DocumentRow]:
    return list(
        await tx.scalars(
            select(DocumentRow)
            .where(DocumentRow.source == source)
            .order_by(DocumentRow.chunk_index)
        )
    )
