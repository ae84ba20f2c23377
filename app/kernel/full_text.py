"""Full-text search over a module's table: SQLite FTS5 (BM25) or PostgreSQL full text.

One implementation for every module that searches by words (RAG's chunks, memory's
entries); the module passes in its table. SQLite keeps an FTS5 table beside the module's
table, written with each row; PostgreSQL indexes a generated `to_tsvector('english', ...)`
column of the table itself (GIN). Both stem English. A query is reduced to its words
joined by OR, so no query syntax from users reaches the engine.

Both engines score every row that holds any of the words, so a query's cost is the sum
of its words' row counts. On PostgreSQL the words are looked up in the column's
statistics for how many rows hold them; when all of them together are more than
POSTINGS_BUDGET rows, a search takes two stages: the rarest words, within the budget (at
least one), find RESCORED candidates by `ts_rank`, and then every word of the query
scores those by `ts_rank_cd`. Rows that hold only the most common words are never
scored: they rarely rank near the top (emulated with FTS5 on both labelled sets, the
budget scaled to their size: recall@5 within 0.01 of one stage), and scoring them is
most of the cost at 100k chunks (bench/rag_search.py). FTS5 cannot score a chosen few
rows without walking every word's rows, so SQLite searches in one stage.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from .database import dialect_of

POSTINGS_BUDGET = 10_000
RESCORED = 200  # candidates the affordable words find, for every word to score
PREFILTERED = 4  # SQLite: times the limit taken from the index before the table's conditions


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
        sqlite_match: Callable[[Sequence[str]], str] | None = None,
    ) -> list[tuple[uuid.UUID, float]]:
        """(row id, score) best first, higher is better on both backends; `conditions`
        narrow the table's rows; `sqlite_match` makes the FTS5 query from the words kept
        (by default: any of them)."""
        if not words:
            return []
        if dialect_of(tx) == "sqlite":
            # FTS5 cannot score a chosen few rows without walking every word's rows
            # (measured: slower than one stage), so SQLite searches in one.
            return await self._sqlite(tx, (sqlite_match or any_of)(words), conditions, limit)
        affordable = await self.affordable(tx, words)
        if len(affordable) == len(words):
            return await self._postgres(tx, words, conditions, limit)
        # Two stages: candidates by the affordable words, then every word scores those.
        candidates = await self._postgres(
            tx, affordable, conditions, max(RESCORED, limit), cheap=True
        )
        return await self._postgres(
            tx, words, [self.row_id.in_([row_id for row_id, _ in candidates])], limit
        )

    async def _postgres(
        self,
        tx: AsyncSession,
        words: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        *,
        cheap: bool = False,
    ) -> list[tuple[uuid.UUID, float]]:
        """Ranked by cover density (`ts_rank_cd`), or by `ts_rank` when `cheap`."""
        document: ColumnElement[Any] = literal_column(self.tsvector)
        tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(words))
        rank = (func.ts_rank if cheap else func.ts_rank_cd)(document, tsquery)
        found = await tx.execute(
            select(self.row_id, rank)
            .where(document.op("@@")(tsquery), *conditions)
            .order_by(rank.desc(), self.row_id)
            .limit(limit)
        )
        return [(row[0], float(row[1])) for row in found]

    async def _sqlite(
        self,
        tx: AsyncSession,
        match: str,
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
    ) -> list[tuple[uuid.UUID, float]]:
        """Ranked by BM25 (negated: higher is better)."""
        if not conditions:  # the FTS table alone, without a join for every match
            return await self._sqlite_ranked(tx, match, limit)
        # The index's best few first, then the conditions on just those: joining every
        # match to the table was most of the cost (memory at 100k: 93 -> 35 ms). Exact:
        # when `limit` of the best pass, no row further down can outrank them.
        best = await self._sqlite_ranked(tx, match, PREFILTERED * limit)
        passing = set(
            await tx.scalars(
                select(self.row_id).where(self.row_id.in_([i for i, _ in best]), *conditions)
            )
        )
        kept = [(i, score) for i, score in best if i in passing]
        if len(kept) >= limit or len(best) < PREFILTERED * limit:
            return kept[:limit]
        fts = (
            select(
                literal_column(self.key).label(self.key),
                literal_column(f"bm25({self.fts_table})").label("bm25"),
            )
            .select_from(text(self.fts_table))
            .where(text(f"{self.fts_table} MATCH :match"))
            .subquery()
        )
        found = await tx.execute(
            select(self.row_id, fts.c.bm25)
            .join(fts, fts.c[self.key] == self.row_id)
            .where(*conditions)
            .order_by(fts.c.bm25, self.row_id)
            .limit(limit),
            {"match": match},
        )
        return [(row[0], -float(row[1])) for row in found]

    async def _sqlite_ranked(
        self, tx: AsyncSession, match: str, limit: int
    ) -> list[tuple[uuid.UUID, float]]:
        found = await tx.execute(
            text(
                f"SELECT {self.key}, bm25({self.fts_table}) FROM {self.fts_table} "
                f"WHERE {self.fts_table} MATCH :match ORDER BY rank, {self.key} LIMIT :n"
            ),
            {"match": match, "n": limit},
        )
        return [(uuid.UUID(hex=row[0]), -float(row[1])) for row in found]

    async def affordable(self, tx: AsyncSession, words: Sequence[str]) -> list[str]:
        """The words, rarest first, while their rows add up to POSTINGS_BUDGET (the
        rarest always), in the query's order."""
        counts = await self._rows_holding(tx, words)
        kept: set[str] = set()
        total = 0.0
        for word in sorted(words, key=lambda w: counts.get(w, 0)):
            if kept and total + counts.get(word, 0) > POSTINGS_BUDGET:
                break
            kept.add(word)
            total += counts.get(word, 0)
        return [w for w in words if w in kept]

    async def _rows_holding(self, tx: AsyncSession, words: Sequence[str]) -> dict[str, float]:
        """How many rows hold each word, estimated from ANALYZE's most common lexemes of
        the column (a word not among them is rarer than all of those: counted as none)."""
        table, column = self.tsvector.split(".")
        stats = (
            await tx.execute(
                text(
                    "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, "
                    "c.reltuples FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
                    "WHERE s.schemaname = current_schema() AND c.relnamespace = "
                    "current_schema()::regnamespace AND s.tablename = :t AND s.attname = :c"
                ),
                {"t": table, "c": column},
            )
        ).first()
        if stats is None or stats[0] is None:
            return {}  # never analysed: nothing to go by
        share = dict(zip(stats[0], stats[1], strict=False))
        lexemes = await tx.execute(
            text(
                "SELECT w, strip(to_tsvector('english', w))::text "
                "FROM unnest(CAST(:words AS text[])) AS w"
            ),
            {"words": list(words)},
        )
        return {
            word: share.get(lexeme.strip("'"), 0.0) * max(stats[2], 0)
            for word, lexeme in lexemes
            if lexeme
        }


def any_of(words: Sequence[str]) -> str:
    """An FTS5 query matching any of the words (words are \\w+: no quotes inside)."""
    return " OR ".join(f'"{w}"' for w in words)
