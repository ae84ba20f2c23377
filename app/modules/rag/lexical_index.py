"""RAG's word search: the kernel's full-text index over `documents`.

Both backends stem English (porter / the `english` configuration); a question finds chunks
that share any of its words, ranked by how well they match.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import dialect_of
from app.kernel.full_text import FullTextIndex
from app.kernel.query_words import query_words
from contracts.rag import SearchFilters

from .filters import filter_condition
from .models import DocumentRow

INDEX = FullTextIndex(
    fts_table="documents_fts",
    key="document_id",
    tsvector="documents.content_tsv",  # generated, PostgreSQL only
    row_id=DocumentRow.id,
    owner=None,  # one corpus for every caller
)


async def add(tx: AsyncSession, documents: Sequence[DocumentRow]) -> None:
    await INDEX.add(tx, [{"document_id": d.id.hex, "content": d.content} for d in documents])


async def remove(tx: AsyncSession, document_ids: Sequence[uuid.UUID]) -> None:
    await INDEX.remove(tx, document_ids)


async def search(
    tx: AsyncSession, query: str, limit: int, filters: SearchFilters
) -> list[tuple[uuid.UUID, float]]:
    """(document id, score) best first; higher score is better on both backends."""
    filtered = bool(filters.metadata) or filters.source_prefix is not None
    conditions = [filter_condition(filters, dialect_of(tx))] if filtered else []
    return await INDEX.search(tx, query_words(query), conditions, limit)
