"""On PostgreSQL, the same word search scores the same rows the same way every time. BM25
weighs a row's length against the average of a sample of the table's rows; taken as
the first rows a scan met, the sample moved on with every search of a table bigger than
a quarter of shared_buffers (PostgreSQL starts a scan where the last one left off:
synchronize_seqscans), and identical recalls returned different memories."""

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.database import open_module_database
from app.kernel.postgres_bm25 import TsvectorColumn
from app.kernel.settings import Settings
from tests.conftest import FAST_MODEL

pytestmark = pytest.mark.postgres

ROWS = 40_000  # about 45 MB: over a quarter of the servers' 128 MB of shared_buffers


class _Base(DeclarativeBase):
    pass


class SampledRow(_Base):
    __tablename__ = "bm25_scores_stay_put"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


async def test_the_length_a_row_is_weighed_against_does_not_move_with_other_scans(
    postgres_urls: dict[str, str], tmp_path: Path
) -> None:
    settings = replace(
        Settings(data_dir=tmp_path / "var", embedding_model=FAST_MODEL),
        database_urls=postgres_urls,
    )
    database = open_module_database("memory", settings)
    table = SampledRow.__tablename__
    words = TsvectorColumn(f"{table}.words", SampledRow.id)
    try:
        async with database.transaction() as tx:
            await tx.execute(
                text(
                    f"CREATE TABLE {table} (id uuid PRIMARY KEY, words tsvector NOT NULL, "
                    "padding text NOT NULL)"
                )
            )
            # Rows hold 1 to 20 words, changing every 50 rows: where a sample starts changes
            # its average length.
            await tx.execute(
                text(
                    f"INSERT INTO {table} SELECT gen_random_uuid(), "
                    "to_tsvector('simple', 'bees ' || array_to_string(ARRAY(SELECT 'w' || j "
                    "FROM generate_series(1, 1 + (i / 50) % 20) AS j), ' ')), "
                    "repeat(md5(i::text), 28) FROM generate_series(1, :rows) AS i"
                ),
                {"rows": ROWS},
            )
        lengths = set()
        for _ in range(6):
            async with database.read() as tx:
                lengths.add((await words.lexicon(tx, ["bees"])).average_length)
        assert len(lengths) == 1
    finally:
        async with database.transaction() as tx:
            await tx.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await database.dispose()
