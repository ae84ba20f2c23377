"""A vec0 partition's bits as the process holds them: the same bits as sqlite-vec's
`vec_quantize_binary`, only the partition's live rows, and the same nearest by Hamming
distance as sqlite-vec's own search (at dimensions that fill whole words and at ones
that do not)."""

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.kernel.sign_bit_partition import read, signs

TABLE = "vectors"


@pytest.mark.parametrize("dimensions", [64, 200, 384])
def test_signs_are_the_bits_sqlite_vec_sets(dimensions: int) -> None:
    import sqlean
    import sqlite_vec

    connection = sqlean.connect(":memory:")
    connection.enable_load_extension(True)
    sqlite_vec.load(connection)
    rng = np.random.default_rng(dimensions)
    vector = rng.normal(size=dimensions).astype(np.float32)
    vector[::7] = 0.0  # exactly zero: no bit, as a negative value
    (bits,) = connection.execute("SELECT vec_quantize_binary(?)", (vector.tobytes(),)).fetchone()
    padded = bits + bytes(-len(bits) % 8)
    assert signs(vector).tobytes() == padded
    connection.close()


@pytest.mark.parametrize("dimensions", [64, 200])
async def test_the_partitions_nearest_are_sqlite_vecs_nearest(
    tmp_path: Path, dimensions: int
) -> None:
    database = open_module_database("memory", Settings(data_dir=tmp_path))
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(900, dimensions)).astype(np.float32)
    owners = ["mine" if i % 3 else "theirs" for i in range(len(vectors))]
    try:
        async with database.transaction() as tx:
            await tx.execute(
                text(
                    f"CREATE VIRTUAL TABLE {TABLE} USING vec0(owner text partition key, "
                    f"embedding bit[{dimensions}], chunk_size = 128)"
                )
            )
            await tx.execute(
                text(
                    f"INSERT INTO {TABLE} (rowid, owner, embedding) "
                    "VALUES (:id, :owner, vec_quantize_binary(:v))"
                ),
                [
                    {"id": i + 1, "owner": owner, "v": vector.tobytes()}
                    for i, (owner, vector) in enumerate(zip(owners, vectors, strict=True))
                ],
            )
            # Deleted rows leave their slots in the chunks, marked invalid.
            await tx.execute(text(f"DELETE FROM {TABLE} WHERE rowid % 10 = 0"))
        mine = {i + 1 for i, owner in enumerate(owners) if owner == "mine" and (i + 1) % 10}
        query = rng.normal(size=dimensions).astype(np.float32)
        async with database.read() as tx:
            held = await read(tx, TABLE, "c.partition00 = :owner", {"owner": "mine"}, 7)
            assert held.version == 7
            assert set(held.rowids.tolist()) == mine
            assert held.nbytes == held.rowids.nbytes + held.words.nbytes
            theirs = list(
                await tx.execute(
                    text(
                        f"SELECT rowid, distance FROM {TABLE} WHERE embedding MATCH "
                        "vec_quantize_binary(:q) AND k = 50 AND owner = 'mine'"
                    ),
                    {"q": query.tobytes()},
                )
            )
        found = held.nearest(query, 50)
        assert len(found) == 50 and set(found.tolist()) <= mine
        # Ties at the last place may be broken either way: the distances must agree.
        by_row = dict(zip(held.rowids.tolist(), _hamming(held.words, query), strict=True))
        assert sorted(by_row[r] for r in found.tolist()) == sorted(int(d) for _, d in theirs)
        assert set(held.nearest(query, 10_000).tolist()) == mine  # fewer than asked: all
    finally:
        await database.dispose()


def _hamming(words: np.ndarray, query: np.ndarray) -> list[int]:
    counted = np.bitwise_count(words ^ signs(query)[:, None]).sum(axis=0)
    return [int(c) for c in counted]
