"""memory_entries_fts merges its segments two of a size at a time (SQLite)

Each write now also merges a little of the index (`fts5_search.Fts5Table.tidy`), where
any size holds `usermerge` segments; at 2, rather than FTS5's 4, the index keeps a few
segments, and a search walks each word's rows in every one of them (200k rows written a
few at a time: 21 segments, word search 11.5 ms at p50; 10 segments, 10.5). The segments
there already are merged into one here (0.8 s for 200k rows).

Revision ID: f2c4e6a8b0d1
Revises: e7a9c1d3f5b7
Create Date: 2026-12-05 08:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'f2c4e6a8b0d1'
down_revision: str | Sequence[str] | None = 'e7a9c1d3f5b7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "memory_entries_fts"
USERMERGE = 2  # two segments of a size are enough for `Fts5Table.tidy` to merge
FTS5_DEFAULT = 4


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL indexes a column (GIN)
        op.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('usermerge', {USERMERGE})")
        op.execute(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('optimize')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('usermerge', {FTS5_DEFAULT})")
