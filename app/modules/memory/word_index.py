"""Memories by words: the kernel's full-text index over `memory_entries`.

A search walks only the caller's entries in the index itself: SQLite's FTS5 table
numbers each owner's entries in a range of rowids, given by the owner's token
(`full_text.owner_token`) in `memory_entries_fts_owners`, and keeps no text, only each
entry's key; PostgreSQL indexes a stored column of the table,
`to_tsvector('english', content) || to_tsvector('simple', 'u' || md5(user_id))`, and
names the owner's token in the query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.full_text import FullTextIndex
from app.kernel.query_words import query_words

from .models import MemoryEntryRow

INDEX = FullTextIndex(
    fts_table="memory_entries_fts",
    key="entry_id",
    tsvector="memory_entries.content_tsv",  # generated, PostgreSQL only
    row_id=MemoryEntryRow.id,
    owner=MemoryEntryRow.user_id,
)


async def add(tx: AsyncSession, rows: Sequence[MemoryEntryRow]) -> None:
    await INDEX.add(
        tx,
        [{"entry_id": r.id.hex, "content": r.content} for r in rows],
        owners=[r.user_id for r in rows],
    )


async def remove(tx: AsyncSession, entry_ids: Sequence[uuid.UUID]) -> None:
    await INDEX.remove(tx, entry_ids)


async def search(
    tx: AsyncSession,
    user_id: str,
    query: str,
    conditions: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[tuple[uuid.UUID, float]]:
    """The user's entries by rank, best first (higher is better); `conditions` narrow
    them, and leave the owner to the index (`recall.filtered`: on PostgreSQL, a
    condition on the owner column makes the planner read the user's every row)."""
    return await INDEX.search(tx, query_words(query), conditions, limit, owner=user_id)
