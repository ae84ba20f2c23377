"""Recall: candidates by meaning and by words, then one score a caller can read.

    score = relevance + importance + recency          (each in [0, 1], as in
    relevance = 0.7 semantic + 0.3 lexical             Generative Agents, equal weights)
    recency = 0.5 ** (time since last access / half-life)

Vector candidates come from `vector_index` (HNSW walked with the user's filter on
PostgreSQL, the user's partition of a vec0 table on SQLite), word candidates from
`word_index`; each way reads what scoring needs of its candidates (the vector search
with the rows it finds, the word search once the query's vector is there), and each
candidate is scored exactly. Lexical ranks are scaled so the best is 1.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import ColumnElement, Integer, Row, String, and_, bindparam, case, func
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.embedding import Vectors
from app.kernel.read_along import ReadAlong
from app.kernel.vector_column import cosine_distance
from contracts.memory import MemoryEntry, RecallFilters, ScoreFactors

from . import vector_index, word_index
from .entries import current, to_entry
from .models import MemoryEntryRow

SEMANTIC_WEIGHT, LEXICAL_WEIGHT = 0.7, 0.3
CANDIDATES_PER_WAY = 50


def conditions(user_id: str, filters: RecallFilters, now: datetime) -> list[ColumnElement[bool]]:
    """The user's entries that the filters keep."""
    return [MemoryEntryRow.user_id == user_id, *filtered(filters, now)]


def filtered(filters: RecallFilters, now: datetime) -> list[ColumnElement[bool]]:
    """What the filters keep, of anyone's entries."""
    found: list[ColumnElement[bool]] = []
    if not filters.include_superseded:
        found.append(current(now))
    if filters.categories:
        found.append(MemoryEntryRow.category.in_(filters.categories))
    if filters.created_after is not None:
        found.append(MemoryEntryRow.created_at >= filters.created_after)
    if filters.created_before is not None:
        found.append(MemoryEntryRow.created_at < filters.created_before)
    return found


async def by_meaning(
    tx: AsyncSession,
    search: vector_index.Search,
    query_vector: np.ndarray,
    where: Sequence[ColumnElement[bool]],
) -> list[Candidate]:
    """Candidates by meaning, with what scoring needs read by the search itself."""
    found = await vector_index.nearest_ready(tx, search, query_vector, where, SCORED_COLUMNS)
    return [_candidate(row, 1 - row.distance) for row in found]


async def by_words(
    tx: AsyncSession,
    user_id: str,
    query: str,
    where: Sequence[ColumnElement[bool]],
    limit: int,
    scored: ReadAlong,
) -> tuple[dict[uuid.UUID, float], list[Candidate]]:
    """Candidates by words, read with what scoring needs (`scored_along`), and each
    one's lexical score scaled so the best is 1; `where` filters (`filtered`: the word
    index narrows to the user itself)."""
    found = await word_index.search(
        tx, user_id, query, where, max(CANDIDATES_PER_WAY, limit), along=scored
    )
    best = max((rank for _, rank in found), default=0.0)
    if best <= 0:
        return {}, []
    lexical = {row.id: rank / best for row, rank in found}
    return lexical, [_candidate(row, row.similarity) for row, _ in found]


@dataclass(frozen=True)
class Candidate:
    """What a candidate's score needs, read before the recall touches it."""

    id: uuid.UUID
    importance: float
    access_count: int
    last_accessed_at: datetime
    similarity: float  # 0 for another model's vector


# A candidate's columns, besides its id, that its score reads.
SCORED_COLUMNS = (
    MemoryEntryRow.importance,
    MemoryEntryRow.access_count,
    MemoryEntryRow.last_accessed_at,
)


def scored_along(dialect: str, model_name: str, vector: Awaitable[Vectors]) -> ReadAlong:
    """What scoring reads of the word search's candidates, with their vectors'
    similarity to the query's `vector` (once it is there): on SQLite by the statement
    that checks the recall's conditions (a round trip less), on PostgreSQL by one read
    right after BM25 (`FullTextIndex.search_reading`), both in the word search's own
    transaction (read after both ways, the recall waited on one more statement:
    PostgreSQL at 100k, 3-4 ms at p50).

    Compared where the vectors are: sending and parsing a hundred 384-dimension vectors
    took longer than the comparison (PostgreSQL, 7.6 -> 4.8 ms). Only what scoring needs
    is read: the few returned are read whole by the touch (`recalled`); decoding every
    candidate's text, ids and dates took a quarter of this read for 100 short memories
    (2.95 -> 2.21 ms on SQLite, 3.11 -> 2.52 on PostgreSQL), and grows with the texts."""

    async def values() -> Mapping[str, Any]:
        query_vector = (await vector)[0]
        return {"q": query_vector, "model": model_name, "dims": len(query_vector)}

    return ReadAlong((*SCORED_COLUMNS, _similarity(dialect)), values)


@functools.cache
def _similarity(dialect: str) -> ColumnElement[float]:
    """The cosine similarity of an entry's vector to the parameter `q`, NULL for another
    model's (`model`) or another size's (`dims`): made once per backend, as building and
    keying it for the cache took 0.6 ms of CPU a recall."""
    dims = bindparam("dims", type_=Integer)
    same_shape = (
        func.vector_dims(MemoryEntryRow.embedding) == dims
        if dialect == "postgresql"
        else func.length(MemoryEntryRow.embedding) == 4 * dims
    )
    return case(
        (
            and_(MemoryEntryRow.model_name == bindparam("model", type_=String), same_shape),
            1 - cosine_distance(MemoryEntryRow.embedding, None, dialect),
        ),
        else_=None,
    ).label("similarity")


def _candidate(row: Row[Any], similarity: float | None) -> Candidate:
    """A candidate from a row of its id and SCORED_COLUMNS. A similarity of NULL or NaN:
    another model's vector, or one with no direction (all zeros)."""
    return Candidate(
        id=row.id,
        importance=row.importance,
        access_count=row.access_count,
        last_accessed_at=row.last_accessed_at,
        similarity=0.0 if similarity is None or math.isnan(similarity) else float(similarity),
    )


def recalled(touched: Row[*tuple[Any, ...]], candidate: Candidate) -> MemoryEntry:
    """An entry as it was when recalled, from its row as the touch returned it."""
    return msgspec.structs.replace(
        to_entry(touched),
        access_count=candidate.access_count,
        last_accessed_at=candidate.last_accessed_at,
    )


def score(
    candidate: Candidate, *, lexical: float, half_life_s: float, now: datetime
) -> ScoreFactors:
    semantic, relevance, recency = _parts(candidate, lexical, half_life_s, now)
    return ScoreFactors(
        semantic=round(semantic, 6),
        lexical=round(lexical, 6),
        relevance=round(relevance, 6),
        importance=candidate.importance,
        recency=round(recency, 6),
        score=round(relevance + candidate.importance + recency, 6),
    )


def total(candidate: Candidate, *, lexical: float, half_life_s: float, now: datetime) -> float:
    """`score(...).score` alone: what candidates are ranked by, without the factors
    that only the returned few carry."""
    _, relevance, recency = _parts(candidate, lexical, half_life_s, now)
    return round(relevance + candidate.importance + recency, 6)


def _parts(
    candidate: Candidate, lexical: float, half_life_s: float, now: datetime
) -> tuple[float, float, float]:
    """(semantic, relevance, recency), unrounded."""
    semantic = max(0.0, candidate.similarity)
    relevance = SEMANTIC_WEIGHT * semantic + LEXICAL_WEIGHT * lexical
    age_s = max(0.0, (now - candidate.last_accessed_at).total_seconds())
    return semantic, relevance, math.pow(0.5, age_s / half_life_s)
