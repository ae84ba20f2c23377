"""memory_entries_fts numbers each owner's entries in a range of rowids (SQLite)

A search for one user's memories compared each matching row's stored owner token: a
seek into the table's stored columns a row, for every owner's rows holding the words.
Each owner now has a slot in `memory_entries_fts_owners`, by its token, and its rows
are numbered from `slot << 40`; a search gives FTS5 the owner's range, which it walks
in the index itself, skipping other owners' rows (100k memories of one user among
200k: both queries 42.8 -> 21.1 ms at p50, the same rows and scores). The owner's
column and its token are gone from the FTS5 table: the range is the owner.

Existing rows are renumbered, in their order, owner by owner, and indexed again from
`memory_entries.content` (the index keeps no text). `downgrade` puts the owner's
column and token back from the slots.

Revision ID: e7a9c1d3f5b7
Revises: c4e6f8a0b2d3
Create Date: 2026-12-01 22:30:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = 'e7a9c1d3f5b7'
down_revision: str | Sequence[str] | None = 'c4e6f8a0b2d3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHIFT = 40  # fts5_search.OWNER_SHIFT when this was written
STORED = "content = '', contentless_unindexed = 1, contentless_delete = 1"
TOKENIZE = "tokenize = 'porter unicode61'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL indexes a column of memory_entries itself
    op.execute(
        "CREATE TABLE memory_entries_fts_owners "
        "(owner_token TEXT PRIMARY KEY, slot INTEGER NOT NULL UNIQUE)"
    )
    op.execute(
        "INSERT INTO memory_entries_fts_owners (owner_token, slot) "
        "SELECT owner_token, row_number() OVER (ORDER BY min(rowid)) "
        "FROM memory_entries_fts GROUP BY owner_token"
    )
    _replace(
        f"SELECT (o.slot << {SHIFT}) + row_number() OVER "
        "(PARTITION BY o.slot ORDER BY f.rowid) - 1, f.entry_id, NULL, e.content "
        "FROM memory_entries_fts f JOIN memory_entries_fts_owners o USING (owner_token) "
        "JOIN memory_entries e ON e.id = f.entry_id",
        f"entry_id UNINDEXED, content, {STORED}",
        "rowid, entry_id, content",
        "SELECT id, entry_id, content FROM memory_entries_fts_moving",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _replace(
        "SELECT f.rowid, f.entry_id, o.owner_token, e.content FROM memory_entries_fts f "
        f"JOIN memory_entries_fts_owners o ON o.slot = f.rowid >> {SHIFT} "
        "JOIN memory_entries e ON e.id = f.entry_id",
        f"entry_id UNINDEXED, owner_token UNINDEXED, owner, content, {STORED}",
        "rowid, entry_id, owner_token, owner, content",
        "SELECT id, entry_id, owner, owner, content FROM memory_entries_fts_moving",
    )
    op.execute("DROP TABLE memory_entries_fts_owners")


def _replace(rows: str, columns: str, into: str, moved: str) -> None:
    """Make memory_entries_fts again with `columns`, holding its `rows` as `moved`
    selects them from where they wait meanwhile (FTS5 does not drop a contentless
    table's `_content` table itself: see revision a3d5e7f9b1c2)."""
    op.execute("CREATE TABLE memory_entries_fts_moving (id, entry_id, owner, content)")
    op.execute(f"INSERT INTO memory_entries_fts_moving {rows}")
    op.execute("DROP TABLE memory_entries_fts_vocab")
    op.execute("DROP TABLE memory_entries_fts")
    op.execute("DROP TABLE IF EXISTS memory_entries_fts_content")
    op.execute(f"CREATE VIRTUAL TABLE memory_entries_fts USING fts5({columns}, {TOKENIZE})")
    op.execute(f"INSERT INTO memory_entries_fts ({into}) {moved}")
    op.execute("DROP TABLE memory_entries_fts_moving")
    op.execute(
        "CREATE VIRTUAL TABLE memory_entries_fts_vocab USING fts5vocab(memory_entries_fts, row)"
    )
