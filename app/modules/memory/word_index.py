"""Memories by words: the kernel's full-text index over `memory_entries`.

SQLite's FTS5 table holds the owner as one indexed token beside each entry's content, so
a search matches only the caller's entries from the index itself. PostgreSQL indexes a
stored `to_tsvector('english', content)` column of the table.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.full_text import FullTextIndex, any_of
from app.kernel.query_words import query_words

from .models import MemoryEntryRow

INDEX = FullTextIndex(
    fts_table="memory_entries_fts",
    key="entry_id",
    tsvector="memory_entries.content_tsv",  # generated, PostgreSQL only
    row_id=MemoryEntryRow.id,
)


async def add(tx: AsyncSession, rows: Sequence[MemoryEntryRow]) -> None:
    await INDEX.add(
        tx,
        [{"entry_id": r.id.hex, "owner": _owner(r.user_id), "content": r.content} for r in rows],
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
    """The user's entries by rank, best first (higher is better); `conditions` narrow,
    and must hold the owner (`recall.conditions` does)."""
    owner = _owner(user_id)
    return await INDEX.search(
        tx,
        query_words(query),
        conditions,
        limit,
        sqlite_match=lambda words: f'owner:"{owner}" AND content:({any_of(words)})',
    )


def _owner(user_id: str) -> str:
    # One token whatever the id's characters (the tokenizer would split `a.b@c`).
    return "u" + hashlib.sha256(user_id.encode()).hexdigest()[:32]
