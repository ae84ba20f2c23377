"""Writing chunks: a batch of documents is chunked, embedded and stored in one transaction.

Everything slow (chunking, embedding) happens before the transaction; inside it, the
index state is checked again, so a re-index that switched models meanwhile is noticed
and the batch is embedded again rather than stored without the new model's vectors.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.embedding import Embedder
from app.kernel.events import Outbox
from contracts.rag import DocumentCreate, DocumentIngested, IngestResult, IngestStatus

from . import lexical_index, vector_index
from .chunking import split_into_chunks
from .index_state import IndexState, load_index_state, save_index_state
from .models import DocumentRow, EmbeddingRow


@dataclass(frozen=True)
class Plan:
    document: DocumentCreate
    chunks: list[str]
    hashes: list[str]


def plan(document: DocumentCreate, *, size: int, overlap: int) -> Plan:
    chunks = split_into_chunks(document.text, size=size, overlap=overlap)
    return Plan(document, chunks, [hashlib.sha256(c.encode()).hexdigest() for c in chunks])


async def ingest_batch(
    db: ModuleDatabase,
    plans: Sequence[Plan],
    state: IndexState,
    embedder: Callable[[str], Embedder],
    default_model: str,
    outbox: Outbox,
) -> list[IngestResult] | None:
    """Store the plans; None if the index changed models meanwhile (plan again)."""
    async with db.read() as tx:
        current = await _chunks_of(tx, [p.document.source for p in plans])
    unchanged = {
        p.document.source
        for p in plans
        if [r.content_hash for r in current.get(p.document.source, [])] == p.hashes
        and all(r.meta == p.document.metadata for r in current.get(p.document.source, []))
    }
    changed = [p for p in plans if p.document.source not in unchanged]
    rows = {p.document.source: _rows(p) for p in changed}
    all_rows = [row for p in changed for row in rows[p.document.source]]
    vectors = {model: await _vectors(db, embedder(model), all_rows) for model in state.models}
    replaced: set[str] = set()
    if changed:
        async with db.transaction() as tx:
            now = await load_index_state(tx, default_model)
            if now.models != state.models:
                return None
            if not now.saved:  # pin the model, so a changed setting cannot hide these vectors
                await save_index_state(tx, state.active_model, None)
            existing = await _chunks_of(tx, list(rows))
            replaced = {source for source, old in existing.items() if old}
            await remove_documents(tx, [r.id for old in existing.values() for r in old])
            tx.add_all(all_rows)
            await tx.flush()
            await lexical_index.add(tx, all_rows)
            for model, matrix in vectors.items():
                await store_vectors(tx, model, all_rows, matrix)
            ingested_at = utcnow()
            for source, stored in rows.items():
                await outbox.add(
                    tx,
                    DocumentIngested(
                        user_id=None,
                        source=source,
                        chunks=len(stored),
                        replaced=source in replaced,
                        ingested_at=ingested_at,
                    ),
                    occurred_at=ingested_at,
                )
    results = []
    for p in plans:
        source = p.document.source
        stored = current.get(source, []) if source in unchanged else rows[source]
        status: IngestStatus = (
            "unchanged" if source in unchanged else "replaced" if source in replaced else "created"
        )
        results.append(
            IngestResult(
                source=source,
                status=status,
                chunks=len(stored),
                document_ids=[r.id for r in stored],
            )
        )
    return results


async def store_vectors(
    tx: AsyncSession, model: str, documents: Sequence[DocumentRow], matrix: np.ndarray
) -> None:
    if not documents:
        return
    await vector_index.ensure(tx, model, matrix.shape[1])
    embeddings = [
        EmbeddingRow(document_id=doc.id, model_name=model, vector=matrix[i])
        for i, doc in enumerate(documents)
    ]
    tx.add_all(embeddings)
    await tx.flush()
    await vector_index.add(tx, model, embeddings)


async def remove_documents(tx: AsyncSession, document_ids: Sequence[uuid.UUID]) -> int:
    """Delete chunks with their vectors and index entries; return how many."""
    if not document_ids:
        return 0
    by_model: dict[str, list[int]] = {}
    for embedding_id, model in await tx.execute(
        select(EmbeddingRow.id, EmbeddingRow.model_name).where(
            EmbeddingRow.document_id.in_(document_ids)
        )
    ):
        by_model.setdefault(model, []).append(embedding_id)
    await vector_index.remove(tx, by_model)
    await lexical_index.remove(tx, document_ids)
    await tx.execute(delete(EmbeddingRow).where(EmbeddingRow.document_id.in_(document_ids)))
    await tx.execute(delete(DocumentRow).where(DocumentRow.id.in_(document_ids)))
    return len(document_ids)


async def _vectors(db: ModuleDatabase, embedder: Embedder, rows: Sequence[DocumentRow]) -> Any:
    """Vectors for these chunks, reusing stored ones of identical chunks."""
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    hashes = {row.content_hash for row in rows}
    async with db.read() as tx:
        known = dict(
            (
                await tx.execute(
                    select(DocumentRow.content_hash, EmbeddingRow.vector)
                    .join(EmbeddingRow, EmbeddingRow.document_id == DocumentRow.id)
                    .where(
                        EmbeddingRow.model_name == embedder.model_name,
                        DocumentRow.content_hash.in_(hashes),
                    )
                )
            ).all()
        )
    missing = [row for row in rows if row.content_hash not in known]
    if missing:
        fresh = await embedder.embed([row.content for row in missing])
        known.update({row.content_hash: fresh[i] for i, row in enumerate(missing)})
    return np.vstack([known[row.content_hash] for row in rows]).astype(np.float32)


async def _chunks_of(tx: AsyncSession, sources: Sequence[str]) -> dict[str, list[DocumentRow]]:
    found: dict[str, list[DocumentRow]] = {source: [] for source in sources}
    for row in await tx.scalars(
        select(DocumentRow)
        .where(DocumentRow.source.in_(sources))
        .order_by(DocumentRow.source, DocumentRow.chunk_index)
    ):
        found[row.source].append(row)
    return found


def _rows(p: Plan) -> list[DocumentRow]:
    now = utcnow()
    return [
        DocumentRow(
            id=uuid.uuid4(),
            source=p.document.source,
            content=chunk,
            chunk_index=index,
            meta=p.document.metadata,
            content_hash=p.hashes[index],
            created_at=now,
        )
        for index, chunk in enumerate(p.chunks)
    ]
