"""memory_entries' word index takes each entry straight in, no pending list (PostgreSQL)

With GIN's `fastupdate` on (the default), new entries wait in a pending list that every
search reads whole until a vacuum merges it: after a bulk load of 200k memories it
held 459 pages, and each lexeme counted or matched cost 1.5 ms more (the count of a
238-row word: 463 buffers, then 4). A memory is added one at a time and searched far
more often than written, so each insert now updates the index itself. The list left
from before is merged here.

Revision ID: c4e6f8a0b2d3
Revises: a3d5e7f9b1c2
Create Date: 2026-12-01 03:40:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'c4e6f8a0b2d3'
down_revision: str | Sequence[str] | None = 'a3d5e7f9b1c2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_memory_entries_content_tsv SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_memory_entries_content_tsv'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_memory_entries_content_tsv RESET (fastupdate)")
