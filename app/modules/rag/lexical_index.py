"""Word search: SQLite FTS5 (BM25) or PostgreSQL full text (GIN, ts_rank_cd).

Both stem English (porter / the `english` configuration). A query is reduced to its
words joined by OR, so a question finds chunks that share any of its words, ranked by
how well they match; no query syntax from users reaches the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import dialect_of
from app.kernel.query_words import query_words
from contracts.rag import SearchFilters

from .filters import filter_condition
from .models import DocumentRow

_TSVECTOR: ColumnElement[str] = literal_column(
    "documents.content_tsv"
)  # generated, PostgreSQL only


async def add(tx: AsyncSession, documents: Sequence[DocumentRow]) -> None:
    """SQLite keeps a separate FTS5 table; PostgreSQL indexes `documents` directly."""
    if dialect_of(tx) == "sqlite" and documents:
        await tx.execute(
            text("INSERT INTO documents_fts (document_id, content) VALUES (:id, :content)"),
            [{"id": d.id.hex, "content": d.content} for d in documents],
        )


async def remove(tx: AsyncSession, document_ids: Sequence[uuid.UUID]) -> None:
    if dialect_of(tx) == "sqlite" and document_ids:
        await tx.execute(
            text("DELETE FROM documents_fts WHERE document_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [i.hex for i in document_ids]},
        )


async def search(
    tx: AsyncSession, query: str, limit: int, filters: SearchFilters
) -> list[tuple[uuid.UUID, float]]:
    """(document id, score) best first; higher score is better on both backends."""
    words = query_words(query)
    if not words:
        return []
    dialect = dialect_of(tx)
    condition = filter_condition(filters, dialect)
    if dialect == "postgresql":
        tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(words))
        rank = func.ts_rank_cd(_TSVECTOR, tsquery)
        rows = await tx.execute(
            select(DocumentRow.id, rank)
            .where(_TSVECTOR.op("@@")(tsquery), condition)
            .order_by(rank.desc(), DocumentRow.id)
            .limit(limit)
        )
        return [(row[0], float(row[1])) for row in rows]
    match = " OR ".join(f'"{w}"' for w in words)
    fts = (
        select(
            literal_column("document_id").label("document_id"),
            literal_column("bm25(documents_fts)").label("bm25"),
        )
        .select_from(text("documents_fts"))
        .where(text("documents_fts MATCH :match"))
        .subquery()
    )
    rows = await tx.execute(
        select(DocumentRow.id, fts.c.bm25)
        .join(fts, fts.c.document_id == DocumentRow.id)
        .where(condition)
        .order_by(fts.c.bm25, DocumentRow.id)
        .limit(limit),
        {"match": match},
    )
    return [(row[0], -float(row[1])) for row in rows]
