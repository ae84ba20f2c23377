"""each user's partition of memory's sign bits has a version (SQLite)

A search now counts Hamming distances with numpy over the user's bits as the process
holds them (`sign_bit_partition`), and reads them again when the user's `version` in the
model's `memory_vectors_<slug>_users` has changed: every write to the partition sets a
new, random one (`sign_bit_index`). Tables the seed made before this get the column
here, each user a random version.

Revision ID: a8c0e2f4b6d9
Revises: f2c4e6a8b0d1
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'a8c0e2f4b6d9'
down_revision: str | Sequence[str] | None = 'f2c4e6a8b0d1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _users_tables() -> list[str]:
    return list(
        op.get_bind().scalars(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name LIKE 'memory\\_vectors\\_%\\_users' ESCAPE '\\'"
            )
        )
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":  # PostgreSQL searches an HNSW index
        return
    for table in _users_tables():
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
        if "version" not in columns:
            op.execute(f"ALTER TABLE {table} ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
        op.execute(f"UPDATE {table} SET version = random()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _users_tables():
        op.execute(f"ALTER TABLE {table} DROP COLUMN version")
