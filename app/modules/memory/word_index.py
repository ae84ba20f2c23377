"""Memories by words: SQLite FTS5 (BM25) or PostgreSQL full text (`english`, GIN).

SQLite keeps a separate FTS5 table that the service writes beside each entry, with the
owner as one indexed token, so a search matches only the caller's entries from the index.
PostgreSQL indexes a stored `to_tsvector('english', content)` column of the table itself.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import dialect_of
from app.kernel.query_words import query_words

from .models import MemoryEntryRow


async def add(tx: AsyncSession, rows: Sequence[MemoryEntryRow]) -> None:
    if dialect_of(tx) == "sqlite" and rows:
        await tx.execute(
            text(
                "INSERT INTO memory_entries_fts (entry_id, owner, content) "
                "VALUES (:id, :owner, :content)"
            ),
            [{"id": r.id.hex, "owner": _owner(r.user_id), "content": r.content} for r in rows],
        )


async def remove(tx: AsyncSession, entry_ids: Sequence[uuid.UUID]) -> None:
    if dialect_of(tx) == "sqlite" and entry_ids:
        await tx.execute(
            text("DELETE FROM memory_entries_fts WHERE entry_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [i.hex for i in entry_ids]},
        )


async def search(
    tx: AsyncSession,
    user_id: str,
    query: str,
    conditions: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[tuple[uuid.UUID, float]]:
    """The user's entries by rank, best first (higher is better); `conditions` narrow."""
    words = query_words(query)
    if not words:
        return []
    if dialect_of(tx) == "postgresql":
        document: ColumnElement[str] = literal_column(
            "memory_entries.content_tsv"
        )  # generated, PostgreSQL only
        tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(words))
        rank = func.ts_rank_cd(document, tsquery)
        rows = await tx.execute(
            select(MemoryEntryRow.id, rank)
            .where(document.op("@@")(tsquery), MemoryEntryRow.user_id == user_id, *conditions)
            .order_by(rank.desc(), MemoryEntryRow.id)
            .limit(limit)
        )
        return [(row[0], float(row[1])) for row in rows]
    fts = (
        select(
            literal_column("entry_id").label("entry_id"),
            literal_column("bm25(memory_entries_fts)").label("bm25"),
        )
        .select_from(text("memory_entries_fts"))
        .where(text("memory_entries_fts MATCH :match"))
        .subquery()
    )
    rows = await tx.execute(
        select(MemoryEntryRow.id, fts.c.bm25)
        .join(fts, fts.c.entry_id == MemoryEntryRow.id)
        .where(*conditions)
        .order_by(fts.c.bm25, MemoryEntryRow.id)
        .limit(limit),
        {"match": _match(user_id, words)},
    )
    return [(row[0], -float(row[1])) for row in rows]


def _match(user_id: str, words: Sequence[str]) -> str:
    any_word = " OR ".join(f'"{w}"' for w in words)  # words are \w+: no quotes inside
    return f'owner:"{_owner(user_id)}" AND content:({any_word})'


def _owner(user_id: str) -> str:
    # One token whatever the id's characters (the tokenizer would split `a.b@c`).
    return "u" + hashlib.sha256(user_id.encode()).hexdigest()[:32]
