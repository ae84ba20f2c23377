"""Memories by meaning: the nearest of one user's entries by cosine distance.

PostgreSQL: a partial HNSW index per model on `embedding::vector(dims)`, walked with
pgvector's iterative scan, so the user's filter applies during the walk (a plain top-k
walk over everyone's memories would leave few of this user's); when the walk still
yields fewer than k, an exact scan of the user's entries answers. SQLite: an exact scan
of the user's entries. Either way only candidates come from here: recall scores each
one exactly from its stored vector.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import ColumnElement, Float, bindparam, cast, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import ModuleDatabase, dialect_of
from app.kernel.embedding import create_embedder
from app.kernel.settings import Settings
from app.kernel.vector_column import cosine_distance

from .models import MemoryEntryRow

EF_SEARCH = 200  # HNSW beam width (bench/memory_recall.py reports recall against exact)


def _slug(model_name: str) -> str:
    return hashlib.sha1(model_name.encode(), usedforsecurity=False).hexdigest()[:12]


async def ensure(tx: AsyncSession, model_name: str, dimensions: int) -> None:
    """Create this model's HNSW index on PostgreSQL if it is missing. Run by
    `bulkhead db upgrade` (the module's seed), never on a request: over existing memories
    it takes minutes, so the statement timeout is lifted for it. Until it exists, recall
    scans exactly."""
    if dialect_of(tx) != "postgresql":
        return
    quoted = model_name.replace("'", "''")
    await tx.execute(text("SET LOCAL statement_timeout = 0"))
    await tx.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS ix_memory_entries_hnsw_{_slug(model_name)} "
            f"ON memory_entries USING hnsw ((embedding::vector({dimensions})) "
            f"vector_cosine_ops) WHERE model_name = '{quoted}'"
        )
    )


async def build_for_settings(database: ModuleDatabase, settings: Settings) -> None:
    """The module's seed: the index of the model the settings name (a new model's index
    comes with the `bulkhead db upgrade` that follows switching to it). Its dimensions
    come from stored memories, or else from the model when it runs here; a remote model
    with nothing stored yet gets its index at the next upgrade."""
    if database.dialect != "postgresql":
        return
    model = settings.embedding_model
    async with database.read() as tx:
        dimensions = await tx.scalar(
            text("SELECT vector_dims(embedding) FROM memory_entries WHERE model_name = :m LIMIT 1"),
            {"m": model},
        )
    if dimensions is None and not model.startswith("openai:"):
        dimensions = len((await create_embedder(model, settings).embed(["x"]))[0])
    if dimensions is not None:
        async with database.transaction() as tx:
            await ensure(tx, model, int(dimensions))


async def nearest(
    tx: AsyncSession,
    query: np.ndarray,
    model_name: str,
    where: Sequence[ColumnElement[bool]],
    k: int,
) -> list[uuid.UUID]:
    """Ids of up to k entries matching `where`, nearest first."""
    if dialect_of(tx) == "postgresql":
        await tx.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        await tx.execute(text(f"SET LOCAL hnsw.ef_search = {max(EF_SEARCH, 2 * k)}"))
        dims = len(query)
        # The same expression as the model's partial index, so the planner can walk it.
        distance = cast(MemoryEntryRow.embedding, VECTOR(dims)).op("<=>", return_type=Float)(
            bindparam("q", query, type_=VECTOR(dims))
        )
        found = await _ranked(tx, distance, model_name, where, k)
        if len(found) == k:
            return found
    exact = cosine_distance(MemoryEntryRow.embedding, query, dialect_of(tx))
    return await _ranked(tx, exact, model_name, where, k)


async def _ranked(
    tx: AsyncSession,
    distance: ColumnElement[float],
    model_name: str,
    where: Sequence[ColumnElement[bool]],
    k: int,
) -> list[uuid.UUID]:
    rows = await tx.execute(
        select(MemoryEntryRow.id, distance)
        .where(MemoryEntryRow.model_name == model_name, *where)
        .order_by(distance)
        .limit(k)
    )
    # relaxed_order: the walk may return near-ties out of order; sort them here.
    return [row[0] for row in sorted(rows, key=lambda row: (row[1], str(row[0])))]
