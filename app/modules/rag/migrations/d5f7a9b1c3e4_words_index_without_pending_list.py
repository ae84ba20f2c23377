"""documents' word index takes each chunk straight in, no pending list (PostgreSQL)

With GIN's `fastupdate` on (the default), new chunks wait in a pending list that every
search reads whole until a vacuum merges it (memory's index after a bulk load: 459
pages, 1.5 ms more for each word counted or matched). Ingest is bound by embedding
the chunks, not by the index, so each insert now updates the index itself. The list
left from before is merged here.

Revision ID: d5f7a9b1c3e4
Revises: 8e3c5a1f2b64
Create Date: 2026-12-01 03:40:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'd5f7a9b1c3e4'
down_revision: str | Sequence[str] | None = '8e3c5a1f2b64'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_documents_content_tsv SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_documents_content_tsv'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_documents_content_tsv RESET (fastupdate)")
