"""Full-text search over a module's table: SQLite FTS5 (BM25) or PostgreSQL full text.

One implementation for every module that searches by words (RAG's chunks, memory's
entries); the module passes in its table. SQLite keeps an FTS5 table beside the module's
table, written with each row; PostgreSQL indexes a generated `to_tsvector('english', ...)`
column of the table itself (GIN). Both stem English. A query is reduced to its words
joined by OR, so no query syntax from users reaches the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from .database import dialect_of


@dataclass(frozen=True)
class FullTextIndex:
    """`fts_table` (SQLite) holds `key` (the row's id, hex) and the indexed columns;
    `tsvector` names the PostgreSQL column (`table.column`); `row_id` is the table's id."""

    fts_table: str
    key: str
    tsvector: str
    row_id: QueryableAttribute[uuid.UUID]

    async def add(self, tx: AsyncSession, rows: Sequence[Mapping[str, str]]) -> None:
        """Index rows on SQLite: each maps `key` and every indexed column to its text."""
        if dialect_of(tx) == "sqlite" and rows:
            columns = list(rows[0])
            await tx.execute(
                text(
                    f"INSERT INTO {self.fts_table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + c for c in columns)})"
                ),
                list(rows),
            )

    async def remove(self, tx: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
        if dialect_of(tx) == "sqlite" and ids:
            await tx.execute(
                text(f"DELETE FROM {self.fts_table} WHERE {self.key} IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": [i.hex for i in ids]},
            )

    async def search(
        self,
        tx: AsyncSession,
        words: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        *,
        sqlite_match: str | None = None,
    ) -> list[tuple[uuid.UUID, float]]:
        """(row id, score) best first, higher is better on both backends; `conditions`
        narrow the table's rows; `sqlite_match` replaces the FTS5 query (any of the words)."""
        if not words:
            return []
        if dialect_of(tx) == "postgresql":
            document: ColumnElement[Any] = literal_column(self.tsvector)
            tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(words))
            rank = func.ts_rank_cd(document, tsquery)
            found = await tx.execute(
                select(self.row_id, rank)
                .where(document.op("@@")(tsquery), *conditions)
                .order_by(rank.desc(), self.row_id)
                .limit(limit)
            )
            return [(row[0], float(row[1])) for row in found]
        fts = (
            select(
                literal_column(self.key).label(self.key),
                literal_column(f"bm25({self.fts_table})").label("bm25"),
            )
            .select_from(text(self.fts_table))
            .where(text(f"{self.fts_table} MATCH :match"))
            .subquery()
        )
        match = sqlite_match if sqlite_match is not None else any_of(words)
        found = await tx.execute(
            select(self.row_id, fts.c.bm25)
            .join(fts, fts.c[self.key] == self.row_id)
            .where(*conditions)
            .order_by(fts.c.bm25, self.row_id)
            .limit(limit),
            {"match": match},
        )
        return [(row[0], -float(row[1])) for row in found]


def any_of(words: Sequence[str]) -> str:
    """An FTS5 query matching any of the words (words are \\w+: no quotes inside)."""
    return " OR ".join(f'"{w}"' for w in words)
