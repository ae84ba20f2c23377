"""Nearest by sign bits on SQLite, asked of a sqlite-vec table's shards at once (RAG's
search; memory's counts the bits of a user's partition itself, `sign_bit_partition`).

sqlite-vec's k nearest cost as much more with k as with the rows: at 100k vectors of one
partition, 14/26/41 ms for k = 100/200/300. Split into SHARDS partitions by a hash of
each row's key, the same candidates cost a small k from each: at 100k real model
vectors, the 200 nearest took 24.7 ms and held 0.950 of the exact 10 nearest; 30 from
each of 8 shards took 6.2 ms and held 0.962 (ADR 0004). A hash, not the key itself:
keys handed out in order would put rows written together, often alike, in the same shard.

sqlite-vec finds a partition's chunks by scanning its `<table>_chunks` table, which has no
index on the partition keys, so a search of one user's 8 shards read every user's chunks
8 times: at 100k memories of one user among 100 users, 19.8 ms (p50), 11.6 with an index
(`index_partitions`). Bigger chunks hid it: from 512 rows, a chunk's rowids outgrow a page
and the scan leaves them unread.
"""

from __future__ import annotations

SHARDS = 8
_HASH_SPAN = 65_536  # the multiplicative hash's range, split evenly among the shards


def per_shard(wanted: int) -> int:
    """How many candidates each shard gives for `wanted` in all."""
    return -(-wanted // SHARDS)


def shard_of_integer(key_sql: str) -> str:
    """SQL for an integer key's shard: Knuth's multiplicative hash, low 16 bits, top
    bits of those (a key below 2**47 keeps the product inside SQLite's integers)."""
    return f"(({key_sql}) * 40503 % {_HASH_SPAN} / {_HASH_SPAN // SHARDS})"


def shard_of_hex(key_sql: str) -> str:
    """SQL for the shard of a random hex key (a uuid4's hex): its last digit."""
    return f"((instr('0123456789abcdef', lower(substr({key_sql}, -1))) - 1) % {SHARDS})"


def index_partitions(table: str, partition_keys: int) -> str:
    """SQL of an index of a vec0 table's chunks by its `partition_keys` partition keys
    (sqlite-vec names them partition00, partition01, ... in the order declared), which
    every search and insert looks a partition's chunks up by."""
    columns = ", ".join(f"partition{i:02d}" for i in range(partition_keys))
    return f"CREATE INDEX IF NOT EXISTS {table}_chunks_by_partition ON {table}_chunks ({columns})"


def nearest_sql(table: str, key: str, partition: str = "TRUE") -> str:
    """SQL of the keys nearest `:q` by sign bits, `:k` from each shard of `table` (a
    vec0 table with a `shard integer partition key` and a bit column `embedding`);
    `partition` is a condition on its other partition keys."""
    return " UNION ALL ".join(
        f"SELECT * FROM (SELECT {key} FROM {table} WHERE embedding MATCH "
        f"vec_quantize_binary(:q) AND k = :k AND shard = {shard} AND {partition})"
        for shard in range(SHARDS)
    )
