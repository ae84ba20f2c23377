"""Rows spread evenly over the sign bits' shards, whatever order their keys come in: a
shard holding most of them would cost what one table did, and take too few of its
nearest."""

import uuid
from collections import Counter
from collections.abc import Sequence

import sqlean

from app.kernel.sign_bit_shards import SHARDS, shard_of_hex, shard_of_integer


def _shards(expression: str, keys: Sequence[int | str]) -> Counter[int]:
    connection = sqlean.connect(":memory:")
    try:
        return Counter(
            connection.execute(f"SELECT {expression}", (key,)).fetchone()[0] for key in keys
        )
    finally:
        connection.close()


def _even(counts: Counter[int], keys: int) -> bool:
    share = keys / SHARDS
    return set(counts) == set(range(SHARDS)) and all(
        0.75 * share <= n <= 1.25 * share for n in counts.values()
    )


def test_integer_keys_in_a_row_or_at_a_stride_spread_over_every_shard() -> None:
    in_a_row = list(range(1, 4001))
    # Every 1,400th: the copies of one text in the benchmarks' corpus, a stride that
    # `key % SHARDS` would put in a single shard.
    strided = [7 + 1400 * i for i in range(4000)]
    for keys in (in_a_row, strided):
        assert _even(_shards(shard_of_integer("?"), keys), len(keys))


def test_uuid_keys_spread_over_every_shard_in_either_case() -> None:
    keys = [uuid.uuid4().hex for _ in range(4000)]
    assert _even(_shards(shard_of_hex("?"), keys), len(keys))
    assert _shards(shard_of_hex("?"), [k.upper() for k in keys]) == _shards(shard_of_hex("?"), keys)
