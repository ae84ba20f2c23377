"""Nearest by sign bits on SQLite: a vec0 partition's bits, held by the process.

sqlite-vec's wheel is built without the CPU's popcount instruction: its Hamming distance
calls libgcc's `__popcountdi2` for every 8 bytes, and at 100k vectors of 384 dimensions
the 240 nearest by bits took about 6 ms of the vector search's 9.4 (memory recall, 100k
memories of one user). numpy's `bitwise_count` uses the instruction: the same distances
take about 0.6 ms, and the nearest of them 1 ms more.

So a search reads the partition's bits once, in a few large blobs (`read`: vec0's
chunks, laid out as its ARCHITECTURE.md documents them: a chunk's rowids, its validity
bitmap, and its vectors), and the process keeps them (`HELD`) under a version the
caller's index changes with every write to the partition (random, so a partition
deleted and filled again never comes back with a version seen before). A search whose
partition has not changed since costs numpy alone; one that has reads it again, 5 ms at
100k vectors, about what sqlite-vec's own search took. The version is read in the
search's transaction, and so are the bits when they are read: what is held is the
partition as that transaction sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .recent import Recent

# What a process holds of partitions' bits, in bytes: 56 a vector of 384 dimensions (its
# bits and its rowid), so about 2.4 million vectors.
HELD_BYTES = 128 * 1024 * 1024
_WORD = 8  # bytes in the uint64 words the distances are counted in


@dataclass(frozen=True)
class PartitionBits:
    """A partition's vectors as the version `version` of it holds them: `rowids[i]` is
    the vec0 rowid of the vector whose bits are `words[:, i]` (a row of words per 64
    dimensions, so each pass of numpy runs over one row)."""

    version: int
    rowids: npt.NDArray[np.int64]
    words: npt.NDArray[np.uint64]

    @property
    def nbytes(self) -> int:
        return int(self.rowids.nbytes + self.words.nbytes)

    def nearest(self, query: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.int64]:
        """The rowids of the n vectors nearest the query by Hamming distance (all of
        them when they are fewer), in no order."""
        if len(self.rowids) <= n:
            return self.rowids
        wanted = signs(query)
        distance = np.zeros(len(self.rowids), dtype=np.uint16)
        bits = np.empty(len(self.rowids), dtype=np.uint64)
        counted = np.empty(len(self.rowids), dtype=np.uint8)
        for row, word in zip(self.words, wanted, strict=True):
            np.bitwise_xor(row, word, out=bits)
            np.bitwise_count(bits, out=counted)
            distance += counted
        return self.rowids[np.argpartition(distance, n)[:n]]


def signs(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
    """A vector's bits as sqlite-vec's `vec_quantize_binary` sets them (1 for a positive
    value, the first dimension in the lowest bit), in words (the last padded with 0)."""
    packed = np.packbits(np.asarray(vector) > 0, bitorder="little")
    words: npt.NDArray[np.uint64] = _padded(packed.reshape(1, -1)).view(np.uint64)[0]
    return words


async def read(
    tx: AsyncSession, table: str, partition: str, values: Mapping[str, Any], version: int
) -> PartitionBits:
    """The vectors of the vec0 `table`'s partition (`partition`: a condition on its
    chunks' partition keys, `c.partition00` ..., with its parameters), as a bit column
    `embedding` (its first vector column) holds them."""
    chunks = (
        await tx.execute(
            text(
                f"SELECT c.rowids, c.validity, v.vectors FROM {table}_chunks AS c "
                f"JOIN {table}_vector_chunks00 AS v ON v.rowid = c.chunk_id WHERE {partition}"
            ),
            dict(values),
        )
    ).all()
    rowids, vectors = [], []
    for chunk_rowids, validity, chunk_vectors in chunks:
        held = np.frombuffer(chunk_rowids, dtype=np.int64)
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        kept = valid[: len(held)].astype(bool)
        rowids.append(held[kept])
        vectors.append(np.frombuffer(chunk_vectors, dtype=np.uint8).reshape(len(held), -1)[kept])
    if not chunks:
        return PartitionBits(version, np.zeros(0, np.int64), np.zeros((0, 0), np.uint64))
    words = _padded(np.concatenate(vectors)).view(np.uint64)
    return PartitionBits(version, np.concatenate(rowids), np.ascontiguousarray(words.T))


def _padded(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Rows of bytes padded with zeros to whole words (zeros on both sides of a
    comparison add nothing to a distance)."""
    extra = -rows.shape[1] % _WORD
    return np.pad(rows, ((0, 0), (0, extra))) if extra else np.ascontiguousarray(rows)


# (database, table, partition) -> its bits, the most recently read kept.
HELD: Recent[tuple[str, str, str], PartitionBits] = Recent(
    HELD_BYTES, size_of=lambda bits: bits.nbytes
)
