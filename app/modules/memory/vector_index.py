"""Memories by meaning: the nearest of one user's entries by cosine distance.

PostgreSQL: a partial HNSW index per model on `embedding::vector(dims)`, walked with
pgvector's iterative scan, so the user's filter applies during the walk (a plain top-k
walk over everyone's memories would leave few of this user's), for a user who holds
much of the table (`_plan_the_search`; the user's rows are scanned when few); when the
walk still yields fewer than k, an exact scan of the user's entries answers.

SQLite: a sqlite-vec `vec0` table per model, partitioned by user and by shard
(`sign_bit_shards`), of each vector's signs (one bit per dimension, 32 times smaller
than the floats): the nearest RESCORED of the user's by Hamming distance, an eighth
from each shard, then those ranked by their exact distance with the recall's
conditions applied; when too few of them pass, an exact scan of the user's entries
answers. Reading every float vector was the cost (sqlite-vec's wheel here has no SIMD:
98 ms of a 120 ms recall at 100k); at 100k the bits' candidates hold 0.96 of the exact
10 nearest (bench/memory_recall.py). Either way only candidates come from here, each
with its exact distance, which recall scores.

Each index is built by `bulkhead db upgrade` (the module's seed), over the memories
already stored, and kept by every write after; until it exists, recall scans exactly.

One file, one job: the module's index by meaning, built, kept and searched, on either
backend; the two backends' halves share `nearest` and its exact fallback.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import ColumnElement, Float, Row, bindparam, cast, column, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.kernel.database import ModuleDatabase, dialect_of
from app.kernel.embedding import create_embedder
from app.kernel.hnsw_index import HnswIndex
from app.kernel.settings import Settings
from app.kernel.sign_bit_shards import index_partitions, nearest_sql, per_shard, shard_of_hex
from app.kernel.vector_column import cosine_distance

from .models import MemoryEntryRow

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
# SQLite: candidates by bits, at least, and per result wanted (30 from each of 8 shards).
RESCORED, PER_RESULT = 240, 4
# Rows per sqlite-vec chunk, allocated whole: every user's partitions hold at least one
# chunk each, so 8 shards of 128 rows take what one partition of the default 1024 took.
CHUNK_ROWS = 128
BITS_PER_BYTE = 8


def _slug(model_name: str) -> str:
    return hashlib.sha1(model_name.encode(), usedforsecurity=False).hexdigest()[:12]


def _table_name(model_name: str) -> str:
    return f"memory_vectors_{_slug(model_name)}_shards"


def _earlier_table_names(model_name: str) -> list[str]:
    """The tables earlier versions kept (floats, then unsharded bits); dropped on upgrade."""
    return [f"memory_vectors_{_slug(model_name)}", f"memory_vectors_{_slug(model_name)}_bits"]


async def ensure(tx: AsyncSession, model_name: str, dimensions: int) -> None:
    """Create this model's index if it is missing, or rebuild one built otherwise. Over
    existing memories it takes minutes on PostgreSQL: run by `bulkhead db upgrade` (the
    module's seed), never on a request."""
    if dialect_of(tx) == "sqlite":
        await _ensure_sqlite(tx, model_name, dimensions)
        return
    name = f"ix_memory_entries_hnsw_{_slug(model_name)}"
    await HnswIndex(name, "memory_entries", "embedding", dimensions, model_name).build(tx)


async def _ensure_sqlite(tx: AsyncSession, model_name: str, dimensions: int) -> None:
    if dimensions % BITS_PER_BYTE:
        return  # sqlite-vec packs bits in bytes: other sizes are scanned exactly
    table = _table_name(model_name)
    if await _sqlite_table(tx, model_name) is not None:
        await tx.execute(text(index_partitions(table, 2)))  # made before it had the index
        return
    for earlier in _earlier_table_names(model_name):
        await tx.execute(text(f"DROP TABLE IF EXISTS {earlier}"))
    await tx.execute(
        text(
            f"CREATE VIRTUAL TABLE {table} USING vec0(entry_id text primary key, "
            "user_id text partition key, shard integer partition key, "
            f"embedding bit[{dimensions}], chunk_size = {CHUNK_ROWS})"
        )
    )
    await tx.execute(text(index_partitions(table, 2)))  # before the rows, which use it too
    # In the same transaction: the index holds every memory from the moment it exists.
    await tx.execute(
        text(
            f"INSERT INTO {table} (entry_id, user_id, shard, embedding) "
            f"SELECT id, user_id, {shard_of_hex('id')}, vec_quantize_binary(embedding) "
            "FROM memory_entries WHERE model_name = :model AND length(embedding) = :size"
        ),
        {"model": model_name, "size": 4 * dimensions},
    )


async def add(tx: AsyncSession, rows: Sequence[MemoryEntryRow]) -> None:
    """Index new entries on SQLite (PostgreSQL indexes them on insert already)."""
    if dialect_of(tx) != "sqlite":
        return
    by_model: dict[str, list[MemoryEntryRow]] = {}
    for row in rows:
        by_model.setdefault(row.model_name, []).append(row)
    for model_name, entries in by_model.items():
        table = await _sqlite_table(tx, model_name)
        if table is not None:
            await tx.execute(
                text(
                    f"INSERT INTO {table} (entry_id, user_id, shard, embedding) "
                    f"VALUES (:id, :u, {shard_of_hex(':id')}, vec_quantize_binary(:v))"
                ),
                [
                    {
                        "id": row.id.hex,
                        "u": row.user_id,
                        "v": np.asarray(row.embedding, dtype=np.float32).tobytes(),
                    }
                    for row in entries
                ],
            )


async def remove(tx: AsyncSession, entry_ids: Sequence[uuid.UUID]) -> None:
    if dialect_of(tx) != "sqlite" or not entry_ids:
        return
    for table in await _sqlite_tables(tx):
        await tx.execute(
            text(f"DELETE FROM {table} WHERE entry_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [i.hex for i in entry_ids]},
        )


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
    dialect = dialect_of(tx)
    if dialect == "postgresql":
        await _plan_the_search(tx, user_id, k)
        dims = len(query)
        # The same expression as the model's partial index, so the planner can walk it.
        distance = cast(MemoryEntryRow.embedding, VECTOR(dims)).op("<=>", return_type=Float)(
            bindparam("q", query, type_=VECTOR(dims))
        )
        found = await _ranked(tx, distance, model_name, where, k, also)
        if len(found) == k:
            return found
    elif (table := await _sqlite_table(tx, model_name)) is not None:
        partition = await _nearest_in_partition(tx, table, query, user_id, where, k, also)
        if partition is not None:
            return partition
    exact = cosine_distance(MemoryEntryRow.embedding, query, dialect)
    return await _ranked(tx, exact, model_name, where, k, also)


async def _plan_the_search(tx: AsyncSession, user_id: str, k: int) -> None:
    """Settings for the rest of the transaction, in one round trip: custom plans (a
    generic plan ignores which user, and scans every user's rows), the walk's width and
    its iterative scan, and whether the walk is taken over a scan of the user's rows.

    PostgreSQL's planner prices a distance at one operator, about a hundredth of what it
    costs, so it scans a user's every row whenever the index's estimate is higher: at
    10k memories of one user (half the table), 28-38 ms a recall where the walk takes
    5-8 ms. The walk pays when the user holds at least WALK_FROM rows and a share of the
    table that puts k of theirs among the first WALK_VISITS rows it passes; both are
    read off ANALYZE's most common users (a user not among them holds a small share). Otherwise
    the planner chooses, and for a user with few memories it rightly scans them: the
    walk would pass over everyone else's first (45-54 ms for 101 rows of 20k; ADR 0018)."""
    ef_search = max(EF_SEARCH, 2 * k)
    least_share = k / max(WALK_VISITS, 2 * k)
    await tx.execute(
        text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', :ef, true), "
            "set_config('enable_sort', CASE WHEN share >= :least_share "
            "AND share * total >= :walk_from THEN 'off' ELSE 'on' END, true) "
            "FROM (SELECT COALESCE(s.most_common_freqs[array_position("
            "s.most_common_vals::text::text[], CAST(:u AS text))], 0) AS share, "
            "GREATEST(c.reltuples, 0) AS total FROM pg_class c LEFT JOIN pg_stats s "
            "ON s.schemaname = current_schema() AND s.tablename = c.relname "
            "AND s.attname = 'user_id' WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relname = 'memory_entries') AS stats"
        ),
        {"ef": str(ef_search), "least_share": least_share, "walk_from": WALK_FROM, "u": user_id},
    )


async def _nearest_in_partition(
    tx: AsyncSession,
    table: str,
    query: np.ndarray,
    user_id: str,
    where: Sequence[ColumnElement[bool]],
    k: int,
    also: Sequence[QueryableAttribute[Any]],
) -> list[Row[Any]] | None:
    """The user's nearest that pass `where`, among the candidates by bits ranked by
    their exact distance, in one statement (the candidates' keys read back and sent
    again cost 2-3 ms); None when fewer than k pass, for an exact scan of the user's
    entries to answer (a user with fewer memories than k, or a filter few pass)."""
    vector = np.asarray(query, dtype=np.float32).tobytes()
    by_bits = (
        text(nearest_sql(table, "entry_id", "user_id = :u"))
        .bindparams(q=vector, k=per_shard(max(RESCORED, PER_RESULT * k)), u=user_id)
        .columns(column("entry_id"))
        .subquery()
    )
    # Cosine, as everywhere: the distance is also the candidate's similarity, which
    # recall scores (L2 orders unit vectors alike, for no time saved that was measured).
    distance = func.vec_distance_cosine(MemoryEntryRow.embedding, vector).label("distance")
    kept = list(
        await tx.execute(
            select(MemoryEntryRow.id, *also, distance)
            .where(MemoryEntryRow.id.in_(select(by_bits.c.entry_id)), *where)
            .order_by(distance, MemoryEntryRow.id)
            .limit(k)
        )
    )
    return kept if len(kept) == k else None


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


async def _sqlite_table(tx: AsyncSession, model_name: str) -> str | None:
    name = _table_name(model_name)
    found = await tx.scalar(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": name},
    )
    return name if found is not None else None


async def _sqlite_tables(tx: AsyncSession) -> list[str]:
    """Every model's vec0 table (not the shadow tables sqlite-vec keeps beside each)."""
    names = await tx.scalars(
        text(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name LIKE 'memory\\_vectors\\_%' ESCAPE '\\' AND sql LIKE '%USING vec0(%'"
        )
    )
    return list(names)
