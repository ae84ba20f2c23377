"""vector sign bits: a sign-bit table beside each SQLite vectors table, filled from it

Revision ID: 5d2c8e41a9b7
Revises: b79fb0d06b0a
Create Date: 2026-11-30 03:40:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2c8e41a9b7"
down_revision: str | Sequence[str] | None = "b79fb0d06b0a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _vector_tables() -> list[tuple[str, int]]:
    """(vectors table, dimensions) of every model's sqlite-vec table."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name LIKE 'vec\\_%' ESCAPE '\\' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        )
    )
    found = []
    for name, sql in rows:
        dimensions = re.search(r"float\[(\d+)\]", sql)
        if dimensions and int(dimensions.group(1)) % 8 == 0:
            found.append((name, int(dimensions.group(1))))
    return found


def upgrade() -> None:
    # PostgreSQL's vectors are searched by their HNSW index: nothing to add there.
    if op.get_bind().dialect.name != "sqlite":
        return
    existing = {
        name for (name,) in op.get_bind().execute(sa.text("SELECT name FROM sqlite_master"))
    }
    for table, dimensions in _vector_tables():
        bits = table.replace("vec_", "vecbits_", 1)
        if bits in existing:
            continue
        op.execute(
            f"CREATE VIRTUAL TABLE {bits} USING vec0("
            f"embedding_id integer primary key, embedding bit[{dimensions}])"
        )
        op.execute(
            f"INSERT INTO {bits} (embedding_id, embedding) "
            f"SELECT embedding_id, vec_quantize_binary(embedding) FROM {table}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, _ in _vector_tables():
        op.execute(f"DROP TABLE IF EXISTS {table.replace('vec_', 'vecbits_', 1)}")
