"""memory_entries' tsvector holds each entry's owner as a token (PostgreSQL)

A word search for one user matched the words in the GIN index, and the planner ANDed
that with a bitmap of the user's every row from the B-tree on `user_id` (11 of 25 ms
for a user with 100k memories). With the owner's token beside the words, the index
alone finds the user's matching rows (`app/kernel/full_text.py`, `owner_token`).
PostgreSQL before 17 cannot change a generated column's expression, so the column and
its index are made again (the table is rewritten once).

Revision ID: 5c2e8a41d7b3
Revises: 9b4f1c2d7e10
Create Date: 2026-11-30 16:05:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '5c2e8a41d7b3'
down_revision: str | Sequence[str] | None = '9b4f1c2d7e10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _words_column("to_tsvector('english', content) || to_tsvector('simple', 'u' || md5(user_id))")


def downgrade() -> None:
    _words_column("to_tsvector('english', content)")


def _words_column(expression: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's FTS5 table has had an owner column from the start
    op.execute("DROP INDEX IF EXISTS ix_memory_entries_content_tsv")
    op.execute("ALTER TABLE memory_entries DROP COLUMN IF EXISTS content_tsv")
    op.execute(
        "ALTER TABLE memory_entries ADD COLUMN content_tsv tsvector "
        f"GENERATED ALWAYS AS ({expression}) STORED"
    )
    op.execute(
        "CREATE INDEX ix_memory_entries_content_tsv ON memory_entries USING gin (content_tsv)"
    )
