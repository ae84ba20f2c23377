"""Memories by meaning: the nearest of one user's entries by cosine distance.

PostgreSQL: a partial HNSW index per model on `embedding::vector(dims)`, walked with
pgvector's iterative scan, so the user's filter applies during the walk (a plain top-k
walk over everyone's memories would leave few of this user's), for a user who holds
much of the table (`_plan_the_search`; the user's rows are scanned when few); when the
walk still yields fewer than k, an exact scan of the user's entries answers.

SQLite: the nearest of the user's by the signs of their vectors, rescored exactly
(`sign_bit_index`, the signs held by the process), for a user who holds many memories;
the user's entries are scanned exactly when few, or when too few of those candidates
pass the recall's conditions.

Either way only candidates come from here, each with its exact distance, which recall
scores. Each index is built by `bulkhead db upgrade` (the module's seed), over the
memories already stored, and kept by every write after; until it exists, recall scans
exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import ColumnElement, Float, Row, bindparam, cast, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.kernel.database import ModuleDatabase, dialect_of
from app.kernel.embedding import create_embedder
from app.kernel.hnsw_index import HnswIndex
from app.kernel.local_settings import set_local
from app.kernel.recent import Recent, database_of
from app.kernel.settings import Settings
from app.kernel.vector_column import cosine_distance

from . import sign_bit_index
from .models import MemoryEntryRow
from .sign_bit_index import model_slug

# HNSW beam width. bench/memory_recall.py at 100k, candidate recall@10 against exact: 200
# gave 0.87-0.93, 400 0.91-0.99 over builds, 500 0.987-0.997, 800 0.99-1.00. On a quiet
# machine 500 saves 1.3-2 ms of the walk's 7 (k = 50, p50), and at 2 cores its CPU is
# the other search's time too.
EF_SEARCH = 500
# A user's rows from which walking the index beats scanning them: a walk that passes
# over WALK_VISITS rows costs what a scan of about WALK_FROM rows does (5-8 ms against
# 3 µs a row, 2 cores). pgvector's iterative scan walks on until it has k of the user's,
# so a user holding k / WALK_VISITS of the table costs about such a walk at any width.
WALK_FROM = 3_000
WALK_VISITS = 800
KEPT_USERS = 8_192  # users' shares kept per process (`_share`)


async def ensure(tx: AsyncSession, model_name: str, dimensions: int) -> None:
    """Create this model's index if it is missing, or rebuild one built otherwise. Over
    existing memories it takes minutes on PostgreSQL: run by `bulkhead db upgrade` (the
    module's seed), never on a request."""
    if dialect_of(tx) == "sqlite":
        await sign_bit_index.ensure(tx, model_name, dimensions)
        return
    name = f"ix_memory_entries_hnsw_{model_slug(model_name)}"
    await HnswIndex(name, "memory_entries", "embedding", dimensions, model_name).build(tx)


async def add(tx: AsyncSession, rows: Sequence[MemoryEntryRow]) -> None:
    """Index new entries on SQLite (PostgreSQL indexes them on insert already); they are
    in `memory_entries` already (flushed)."""
    if dialect_of(tx) == "sqlite":
        await sign_bit_index.add(tx, rows)


async def remove(tx: AsyncSession, entry_ids: Sequence[uuid.UUID]) -> None:
    if dialect_of(tx) == "sqlite" and entry_ids:
        await sign_bit_index.remove(tx, entry_ids)


async def forget_user(tx: AsyncSession, user_id: str) -> None:
    """What the index keeps of a user besides their entries (SQLite: whether they are
    indexed), gone; their entries go with `remove`."""
    if dialect_of(tx) == "sqlite":
        await sign_bit_index.forget(tx, user_id)


async def build_for_settings(database: ModuleDatabase, settings: Settings) -> None:
    """The module's seed: the index of the model the settings name (a new model's index
    comes with the `bulkhead db upgrade` that follows switching to it). Its dimensions
    come from stored memories, or else from the model when it runs here; a remote model
    with nothing stored yet gets its index at the next upgrade."""
    model = settings.embedding_model
    stored_dims = (
        "vector_dims(embedding)" if database.dialect == "postgresql" else "length(embedding) / 4"
    )
    async with database.read() as tx:
        dimensions = await tx.scalar(
            text(f"SELECT {stored_dims} FROM memory_entries WHERE model_name = :m LIMIT 1"),
            {"m": model},
        )
    if dimensions is None and not model.startswith("openai:"):
        dimensions = len((await create_embedder(model, settings).embed(["x"]))[0])
    if dimensions is not None:
        async with database.transaction() as tx:
            await ensure(tx, model, int(dimensions))


@dataclass(frozen=True)
class Search:
    """A search by meaning, made ready before the query's vector is there (`ready`)."""

    model_name: str
    user_id: str
    k: int
    sign_bits: sign_bit_index.Partition | None  # SQLite: the user's, if they are indexed


async def ready(tx: AsyncSession, model_name: str, user_id: str, k: int) -> Search:
    """What the search for the user's k nearest needs besides the query's vector: on
    PostgreSQL its settings (`_plan_the_search`), on SQLite the user's sign bits, if
    they are indexed (`sign_bit_index.partition`). Recall asks while the model embeds
    the query: round trips off its longest leg (SQLite at 100k memories: about 1 ms, and
    5 more when the user's bits are read again)."""
    if dialect_of(tx) == "postgresql":
        await _plan_the_search(tx, user_id, k)
        return Search(model_name, user_id, k, None)
    return Search(model_name, user_id, k, await sign_bit_index.partition(tx, model_name, user_id))


async def nearest(
    tx: AsyncSession,
    query: np.ndarray,
    model_name: str,
    user_id: str,
    where: Sequence[ColumnElement[bool]],
    k: int,
    also: Sequence[QueryableAttribute[Any]] = (),
) -> list[Row[Any]]:
    """Up to k of the user's entries matching `where` (which holds the owner, as
    `recall.conditions` does), nearest first: each row is the entry's `id`, the columns
    `also` asks for, and its exact cosine `distance` to the query, read by the statement
    that finds it (a second read of the same rows cost recall a round trip)."""
    return await nearest_ready(tx, await ready(tx, model_name, user_id, k), query, where, also)


async def nearest_ready(
    tx: AsyncSession,
    search: Search,
    query: np.ndarray,
    where: Sequence[ColumnElement[bool]],
    also: Sequence[QueryableAttribute[Any]] = (),
) -> list[Row[Any]]:
    """`nearest`, for a search made ready in this transaction."""
    dialect, k = dialect_of(tx), search.k
    if dialect == "postgresql":
        dims = len(query)
        # The same expression as the model's partial index, so the planner can walk it.
        distance = cast(MemoryEntryRow.embedding, VECTOR(dims)).op("<=>", return_type=Float)(
            bindparam("q", query, type_=VECTOR(dims))
        )
        found = await _ranked(tx, distance, search.model_name, where, k, also)
        if len(found) == k:
            return found
    elif search.sign_bits is not None:
        by_bits = await sign_bit_index.nearest(tx, search.sign_bits, query, where, k, also)
        if by_bits is not None:
            return by_bits
    exact = cosine_distance(MemoryEntryRow.embedding, query, dialect)
    return await _ranked(tx, exact, search.model_name, where, k, also)


async def _plan_the_search(tx: AsyncSession, user_id: str, k: int) -> None:
    """Settings for the rest of the transaction, in one round trip (two for a user's
    first search in `recent.FRESH_S`, `_share`): custom plans (a generic plan ignores
    which user, and scans every user's rows), the walk's width and its iterative scan,
    and whether the walk is taken over a scan of the user's rows.

    PostgreSQL's planner prices a distance at one operator, about a hundredth of what it
    costs, so it scans a user's every row whenever the index's estimate is higher: at
    10k memories of one user (half the table), 28-38 ms a recall where the walk takes
    5-8 ms. The walk pays when the user holds at least WALK_FROM rows and a share of the
    table that puts k of theirs among the first WALK_VISITS rows it passes (`_share`).
    Otherwise the planner chooses, and for a user with few memories it rightly scans
    them: the walk would pass over everyone else's first (45-54 ms for 101 rows of 20k;
    ADR 0018)."""
    share, total = await _share(tx, user_id)
    walk = share >= k / max(WALK_VISITS, 2 * k) and share * total >= WALK_FROM
    await set_local(
        tx,
        {
            "plan_cache_mode": "force_custom_plan",
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": str(max(EF_SEARCH, 2 * k)),
            "enable_sort": "off" if walk else "on",
        },
    )


async def _share(tx: AsyncSession, user_id: str) -> tuple[float, float]:
    """The user's share of the table's rows, and the rows, as ANALYZE last counted them
    (a user not among its most common holds a small share: 0), read again after
    `recent.FRESH_S`. They change only when the table is analysed. Read from pg_stats
    with the settings, that statement took 0.9-1.3 ms of the client's time, against 0.3
    for the settings alone (300 calls in a transaction, so planned anew each time, at
    100k memories); a recall by turns, p50 -1.4 ms."""
    place = (database_of(tx), user_id)
    known = _SHARES.get(place)
    if known is None:
        share, total = (await tx.execute(_SHARE_OF_USER, {"u": user_id})).one()
        known = (float(share), float(total))
        _SHARES.keep(place, known)
    return known


_SHARES: Recent[tuple[str, str], tuple[float, float]] = Recent(KEPT_USERS)
_SHARE_OF_USER = text(
    "SELECT COALESCE(s.most_common_freqs[array_position("
    "s.most_common_vals::text::text[], CAST(:u AS text))], 0), GREATEST(c.reltuples, 0) "
    "FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() "
    "AND s.tablename = c.relname AND s.attname = 'user_id' "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'memory_entries'"
)


async def _ranked(
    tx: AsyncSession,
    distance: ColumnElement[float],
    model_name: str,
    where: Sequence[ColumnElement[bool]],
    k: int,
    also: Sequence[QueryableAttribute[Any]],
) -> list[Row[Any]]:
    labelled = distance.label("distance")
    rows = await tx.execute(
        select(MemoryEntryRow.id, *also, labelled)
        .where(MemoryEntryRow.model_name == model_name, *where)
        .order_by(labelled)
        .limit(k)
    )
    # relaxed_order: the walk may return near-ties out of order; sort them here.
    return sorted(rows, key=lambda row: (row.distance, str(row.id)))
