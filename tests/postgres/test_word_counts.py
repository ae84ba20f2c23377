"""On PostgreSQL, BM25 counts how often a row says a word as a row really says it: worked
back from `ts_rank`, every count a tsvector keeps comes out exact. Read as `ts_rank`
itself, a word said ten times counted 1.55 times, and rows saying the topic's word over
and over ranked little above rows saying it once."""

import pytest
from sqlalchemy import text

from app.kernel.database import open_module_database
from app.kernel.postgres_bm25 import occurrences
from app.kernel.settings import Settings

pytestmark = pytest.mark.postgres

MOST_POSITIONS = 255  # a tsvector keeps no more positions of one lexeme


async def test_every_count_a_tsvector_keeps_comes_out_exact(postgres_settings: Settings) -> None:
    database = open_module_database("memory", postgres_settings)
    try:
        async with database.read() as tx:
            found = await tx.execute(
                text(
                    f"SELECT n, {occurrences('v', ':term')} FROM (SELECT n, to_tsvector("
                    "'simple', repeat('parrot cat ', n) || 'sings') AS v "
                    "FROM generate_series(1, :most) AS n) AS rows ORDER BY n"
                ),
                {"term": "parrot", "most": MOST_POSITIONS + 20},
            )
            counted = {n: int(count) for n, count in found}
        assert [counted[n] for n in range(1, MOST_POSITIONS + 1)] == list(
            range(1, MOST_POSITIONS + 1)
        )
        # Past what the tsvector keeps, the count stays at its cap.
        assert {counted[n] for n in range(MOST_POSITIONS + 1, MOST_POSITIONS + 21)} == {
            MOST_POSITIONS
        }
    finally:
        await database.dispose()
