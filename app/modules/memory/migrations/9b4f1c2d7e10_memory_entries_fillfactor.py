"""memory_entries leave room on each page for a row's next version (PostgreSQL)

Recall touches what it returns (access count, last access). With full pages each touch
writes the row's new version elsewhere and inserts it into every index, the HNSW graph
included (measured: 3.6 ms for 10 rows at 20k memories, 14 ms at 200k). With room on
the page, PostgreSQL updates in place (a HOT update: no index changes, 0.7 ms). New
pages get the room; `VACUUM FULL memory_entries` gives it to rows stored before.

Revision ID: 9b4f1c2d7e10
Revises: 43c515e48760
Create Date: 2026-11-30 09:40:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '9b4f1c2d7e10'
down_revision: str | Sequence[str] | None = '43c515e48760'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE memory_entries SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE memory_entries RESET (fillfactor)")
