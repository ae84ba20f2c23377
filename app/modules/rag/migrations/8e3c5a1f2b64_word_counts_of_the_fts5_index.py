"""How many rows hold each word of documents_fts (SQLite: an fts5vocab table)

SQLite's word search takes two stages when a query's words are in many rows, and
chooses the rarest words by these counts (`app/kernel/fts5_search.py`). The table is a
view of the index: it stores nothing. PostgreSQL counts from its statistics instead.

Revision ID: 8e3c5a1f2b64
Revises: 4bb14d1ce1bd
Create Date: 2026-11-30 20:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '8e3c5a1f2b64'
down_revision: str | Sequence[str] | None = '4bb14d1ce1bd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE documents_fts_vocab USING fts5vocab(documents_fts, row)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE documents_fts_vocab")
