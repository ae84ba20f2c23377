"""Memories by meaning on SQLite: each user's vectors' signs, nearest by Hamming distance.

A sqlite-vec `vec0` table per model, partitioned by user (and by shard, from when
sqlite-vec searched it: `sign_bit_shards`), of each vector's signs (one bit per
dimension, 32 times smaller than the floats). A search takes the nearest RESCORED of the
user's by Hamming distance, counted by numpy over the user's bits as the process holds
them (`sign_bit_partition`: read again when the user's `version` in `<table>_users` has
changed, which every write of theirs to the index does), then ranks those by their exact
distance with the recall's conditions applied; when too few of them pass, an exact scan
of the user's entries answers (`vector_index`). Reading every float vector was the cost
(98 ms of a 120 ms recall at 100k); at 100k the bits' candidates hold 0.96 of the exact
10 nearest (bench/memory_recall.py).

sqlite-vec allocates a partition's chunks whole, so only the users who hold INDEX_FROM
entries of a model are in its table (listed in `<table>_users`): a user with a few
hundred memories took 8 chunks of 128 rows, and is scanned in a few ms. From the entry
that brings a user to INDEX_FROM, all of theirs are in.

One file (~300 lines) on purpose: the table, its writes and its search share one layout
and one rule (a write to a user's partition gives it a new version, which the search
reads); apart, each half would have to restate the other.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import numpy as np
from sqlalchemy import BindParameter, ColumnElement, Row, bindparam, column, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.kernel import sign_bit_partition
from app.kernel.recent import database_of
from app.kernel.sign_bit_partition import PartitionBits
from app.kernel.sign_bit_shards import index_partitions, shard_of_hex

from .models import MemoryEntryRow

# Candidates by bits, at least, and per result wanted.
RESCORED, PER_RESULT = 240, 4
# Rows per sqlite-vec chunk, allocated whole, so only users holding INDEX_FROM entries
# of a model are indexed: the rest are few enough to scan exactly (2,000 entries: 4-5
# ms). A search reads a chunk in a few calls each (its rowids, validity and vectors):
# the 100k entries of one user took 11.3 ms in chunks of 128 rows, 7.0 in 1024.
CHUNK_ROWS = 1024
INDEX_FROM = 2_000
BITS_PER_BYTE = 8


def model_slug(model_name: str) -> str:
    """A model's short name in the names of its indexes, on either backend."""
    return hashlib.sha1(model_name.encode(), usedforsecurity=False).hexdigest()[:12]


def table_name(model_name: str) -> str:
    return f"memory_vectors_{model_slug(model_name)}_shards{CHUNK_ROWS}"


def users_table_name(model_name: str) -> str:
    """The users whose entries of the model are indexed (all of them, from when they
    held INDEX_FROM; kept when they hold fewer again), each with the `version` of their
    partition: random, set anew by every write to it."""
    return f"memory_vectors_{model_slug(model_name)}_users"


def earlier_table_names(model_name: str) -> list[str]:
    """The tables earlier versions kept (floats, unsharded bits, every user's bits in
    chunks of 128 rows); dropped on upgrade."""
    slug = model_slug(model_name)
    return [
        f"memory_vectors_{slug}",
        f"memory_vectors_{slug}_bits",
        f"memory_vectors_{slug}_shards",
    ]


async def ensure(tx: AsyncSession, model_name: str, dimensions: int) -> None:
    """Create the model's table if it is missing, in place of an earlier version's."""
    if dimensions % BITS_PER_BYTE:
        return  # sqlite-vec packs bits in bytes: other sizes are scanned exactly
    table = table_name(model_name)
    if await existing_table(tx, model_name) is not None:
        await tx.execute(text(index_partitions(table, 2)))  # made before it had the index
        return
    for earlier in earlier_table_names(model_name):
        await tx.execute(text(f"DROP TABLE IF EXISTS {earlier}"))
    await tx.execute(
        text(
            f"CREATE VIRTUAL TABLE {table} USING vec0(entry_id text primary key, "
            "user_id text partition key, shard integer partition key, "
            f"embedding bit[{dimensions}], chunk_size = {CHUNK_ROWS})"
        )
    )
    await tx.execute(text(index_partitions(table, 2)))  # before the rows, which use it too
    users = users_table_name(model_name)
    await tx.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {users} "
            "(user_id TEXT PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0)"
        )
    )
    # In the same transaction: the index holds every memory of those it indexes from the
    # moment it exists.
    await _index_when_many(tx, model_name, 4 * dimensions, None)


async def add(tx: AsyncSession, rows: Sequence[MemoryEntryRow]) -> None:
    """Index new entries: those of users indexed already, and every entry of a user who
    now holds INDEX_FROM. The entries are in `memory_entries` already (flushed)."""
    by_model: dict[str, list[MemoryEntryRow]] = {}
    for row in rows:
        by_model.setdefault(row.model_name, []).append(row)
    for model_name, entries in by_model.items():
        table = await existing_table(tx, model_name)
        if table is None:
            continue
        users_table = users_table_name(model_name)
        owners = sorted({row.user_id for row in entries})
        indexed = set(
            await tx.scalars(
                text(f"SELECT user_id FROM {users_table} WHERE user_id IN :owners").bindparams(
                    bindparam("owners", expanding=True)
                ),
                {"owners": owners},
            )
        )
        kept = [row for row in entries if row.user_id in indexed]
        if kept:
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
                    for row in kept
                ],
            )
            await _changed(tx, users_table, "user_id IN :given", sorted(indexed))
        if newcomers := [owner for owner in owners if owner not in indexed]:
            await _index_when_many(tx, model_name, 4 * len(entries[0].embedding), newcomers)


async def _index_when_many(
    tx: AsyncSession, model_name: str, size: int, owners: Sequence[str] | None
) -> None:
    """List those of the owners (None: of everyone) who hold INDEX_FROM entries of the
    model (of `size` bytes) as indexed, and index their entries. Owners listed already
    are not to be given: their entries would be indexed twice."""
    among = "" if owners is None else " AND user_id IN :owners"
    users = users_table_name(model_name)
    listed = text(
        f"INSERT OR IGNORE INTO {users} (user_id, version) "
        "SELECT user_id, random() FROM memory_entries "
        f"WHERE model_name = :model AND length(embedding) = :size{among} "
        "GROUP BY user_id HAVING count(*) >= :least"
    )
    indexed = text(
        f"INSERT INTO {table_name(model_name)} (entry_id, user_id, shard, embedding) "
        f"SELECT id, user_id, {shard_of_hex('id')}, vec_quantize_binary(embedding) "
        "FROM memory_entries WHERE model_name = :model AND length(embedding) = :size "
        f"AND user_id IN (SELECT user_id FROM {users}){among}"
    )
    values: dict[str, Any] = {"model": model_name, "size": size, "least": INDEX_FROM}
    if owners is not None:
        expanding: BindParameter[Any] = bindparam("owners", expanding=True)
        listed, indexed = listed.bindparams(expanding), indexed.bindparams(expanding)
        values["owners"] = list(owners)
    await tx.execute(listed, values)
    await tx.execute(indexed, values)


async def remove(tx: AsyncSession, entry_ids: Sequence[uuid.UUID]) -> None:
    """Take the entries out of the index: called before they leave `memory_entries`,
    whose rows name their owners."""
    ids = [i.hex for i in entry_ids]
    owners = "user_id IN (SELECT user_id FROM memory_entries WHERE id IN :given)"
    for users in await _tables(tx, "users"):
        await _changed(tx, users, owners, ids)
    for table in await _tables(tx, "vectors"):
        await tx.execute(
            text(f"DELETE FROM {table} WHERE entry_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )


async def _changed(tx: AsyncSession, users: str, which: str, given: Sequence[str]) -> None:
    """A new version for the partitions of the users `which` names (a condition on the
    expanding parameter `given`), so that no process searches the bits it held of them."""
    await tx.execute(
        text(f"UPDATE {users} SET version = random() WHERE {which}").bindparams(
            bindparam("given", expanding=True)
        ),
        {"given": list(given)},
    )


async def forget(tx: AsyncSession, user_id: str) -> None:
    """Take the user off every model's list of indexed users (their entries leave the
    index as they are deleted): an account deleted leaves not even its id here."""
    for users in await _tables(tx, "users"):
        await tx.execute(text(f"DELETE FROM {users} WHERE user_id = :u"), {"u": user_id})


@dataclass(frozen=True)
class Partition:
    """A user's partition of a model's table, and its bits as the process holds them."""

    table: str
    bits: PartitionBits


async def partition(tx: AsyncSession, model_name: str, user_id: str) -> Partition | None:
    """The user's partition of the model's index, or None when the user is not in it
    (or the index is not built): held by the process while its version stands, read
    again when it has changed."""
    table = await existing_table(tx, model_name)
    if table is None:
        return None
    version = await tx.scalar(
        text(f"SELECT version FROM {users_table_name(model_name)} WHERE user_id = :u"),
        {"u": user_id},
    )
    if version is None:
        return None
    place = (database_of(tx), table, user_id)
    bits = sign_bit_partition.HELD.get(place)
    if bits is None or bits.version != version:
        bits = await sign_bit_partition.read(
            tx, table, "c.partition00 = :u", {"u": user_id}, version
        )
        sign_bit_partition.HELD.keep(place, bits)
    return Partition(table, bits)


async def nearest(
    tx: AsyncSession,
    searched: Partition,
    query: np.ndarray,
    where: Sequence[ColumnElement[bool]],
    k: int,
    also: Sequence[QueryableAttribute[Any]],
) -> list[Row[Any]] | None:
    """The user's nearest that pass `where`, among the candidates by bits ranked by
    their exact distance, in one statement; None when fewer than k pass, for an exact
    scan of the user's entries to answer (a user with fewer memories than k, or a
    filter few pass)."""
    vector = np.asarray(query, dtype=np.float32)
    # In a worker thread: numpy lets go of the GIL as it counts, so the event loop goes
    # on with the recall's other search (at 100k, paired median -0.81 ms a recall).
    rowids = await asyncio.to_thread(searched.bits.nearest, vector, max(RESCORED, PER_RESULT * k))
    by_bits = (
        text(
            f"SELECT id FROM {searched.table}_rowids "
            "WHERE rowid IN (SELECT value FROM json_each(:rowids))"
        )
        .bindparams(rowids=msgspec.json.encode(rowids.tolist()).decode())
        .columns(column("id"))
        .subquery()
    )
    # Cosine, as everywhere: the distance is also the candidate's similarity, which
    # recall scores (L2 orders unit vectors alike, for no time saved that was measured).
    distance = func.vec_distance_cosine(MemoryEntryRow.embedding, vector.tobytes()).label(
        "distance"
    )
    kept = list(
        await tx.execute(
            select(MemoryEntryRow.id, *also, distance)
            .where(MemoryEntryRow.id.in_(select(by_bits.c.id)), *where)
            .order_by(distance, MemoryEntryRow.id)
            .limit(k)
        )
    )
    return kept if len(kept) == k else None


async def existing_table(tx: AsyncSession, model_name: str) -> str | None:
    name = table_name(model_name)
    found = await tx.scalar(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": name},
    )
    return name if found is not None else None


async def _tables(tx: AsyncSession, kind: Literal["vectors", "users"]) -> list[str]:
    """Every model's vec0 table (not the shadow tables sqlite-vec keeps beside each), or
    every model's table of indexed users."""
    holds = "sql LIKE '%USING vec0(%'" if kind == "vectors" else "name LIKE '%\\_users' ESCAPE '\\'"
    names = await tx.scalars(
        text(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            f"AND name LIKE 'memory\\_vectors\\_%' ESCAPE '\\' AND {holds}"
        )
    )
    return list(names)
