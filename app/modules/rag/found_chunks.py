"""What a search reads of the chunks its two rankings found, in one statement.

Each found chunk's row, and its cosine similarity to the query where this model has
its vector (hybrid scores the word ranking's finds by meaning too). It was three
statements: the word finds' similarities, every find's source (to diversify by), then
the chosen chunks' rows; on PostgreSQL at 100k chunks the read after the two rankings
took 4.7 ms at p50 that way (bench/rag_search.py's corpus and questions).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, case, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import dialect_of
from app.kernel.embedding.base import Vectors as Vector
from app.kernel.one_of import one_of
from app.kernel.vector_column import cosine_distance

from .models import DocumentRow, EmbeddingRow


@dataclass(frozen=True)
class FoundChunk:
    id: uuid.UUID
    source: str
    chunk_index: int
    content: str
    metadata: dict[str, Any]
    similarity: float | None  # None: not asked for, or no vector of this model


async def read_found(
    tx: AsyncSession,
    ids: Sequence[uuid.UUID],
    model_name: str,
    query_vector: Vector | None,
) -> dict[uuid.UUID, FoundChunk]:
    """The chunks of `ids` that still exist (one deleted since it was ranked is not),
    each with its similarity to `query_vector` if one is given."""
    if not ids:
        return {}
    distance: ColumnElement[float] | ColumnElement[None] = (
        literal(None, Float)  # lexical or vector: nothing to score
        if query_vector is None
        # sqlite-vec fails on a NULL vector where pgvector returns NULL: no vector of
        # this model (the outer join below) is not compared.
        else case(
            (
                EmbeddingRow.id.is_not(None),
                cosine_distance(EmbeddingRow.vector, query_vector, dialect_of(tx)),
            )
        )
    )
    statement = select(
        DocumentRow.id,
        DocumentRow.source,
        DocumentRow.chunk_index,
        DocumentRow.content,
        DocumentRow.meta,
        distance,
    )
    if query_vector is not None:
        statement = statement.outerjoin(
            EmbeddingRow,
            (EmbeddingRow.document_id == DocumentRow.id) & (EmbeddingRow.model_name == model_name),
        )
    rows = await tx.execute(statement.where(one_of(DocumentRow.id, ids, dialect_of(tx))))
    return {
        row[0]: FoundChunk(
            id=row[0],
            source=row[1],
            chunk_index=row[2],
            content=row[3],
            metadata=row[4],
            similarity=_similarity(row[5]),
        )
        for row in rows
    }


def _similarity(distance: float | None) -> float | None:
    """NULL: no vector of this model; NaN: a vector with no direction, which matches
    nothing (as the vector index leaves such chunks out)."""
    if distance is None or math.isnan(distance):
        return None
    return 1.0 - distance
