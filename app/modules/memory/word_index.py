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
from typing import Any

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.full_text import FullTextIndex
from app.kernel.query_words import query_words
from app.kernel.read_along import NOTHING_ALONG, ReadAlong

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
    *,
    along: ReadAlong = NOTHING_ALONG,
) -> list[tuple[Row[Any], float]]:
    """The user's entries by rank, best first (higher is better), each read with its
    `id` and the columns `along` names; `conditions` narrow them, and leave the owner to
    the index (`recall.filtered`: on PostgreSQL, a condition on the owner column makes
    the planner read the user's every row)."""
    return await INDEX.search_reading(
        tx, query_words(query), conditions, limit, owner=user_id, along=along
    )
