"""Memories by words: the kernel's full-text index over `memory_entries`.

Each entry's owner is one token in the index beside its words (`full_text.owner_token`),
so a search matches only the caller's entries from the index itself: SQLite's FTS5 table
has an `owner` column, and keeps a copy of the token it compares (OWNER_KEPT: the
table keeps no text, only its unindexed columns); PostgreSQL indexes a stored column of
the table,
`to_tsvector('english', content) || to_tsvector('simple', 'u' || md5(user_id))`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.fts5_search import OWNER_KEPT
from app.kernel.full_text import FullTextIndex, owner_token
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
    tokens = [owner_token(r.user_id, "sqlite") for r in rows]
    await INDEX.add(
        tx,
        [
            {"entry_id": r.id.hex, "owner": token, OWNER_KEPT: token, "content": r.content}
            for r, token in zip(rows, tokens, strict=True)
        ],
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
