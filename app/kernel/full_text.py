"""Full-text search over a module's table: SQLite FTS5 (BM25) or PostgreSQL full text.

One implementation for every module that searches by words (RAG's chunks, memory's
entries); the module passes in its table. SQLite keeps an FTS5 table beside the module's
table, written with each row; PostgreSQL indexes a generated `to_tsvector('english', ...)`
column of the table itself (GIN). Both stem English. A query is reduced to its words
joined by OR, so no query syntax from users reaches the engine.

Both rank by BM25. FTS5 has it built in. On PostgreSQL it is computed in SQL (`_bm25`):
how many rows hold each word comes from ANALYZE's most common lexemes of the column, or
for a rarer word from the index; a word's frequency in a row is read off `ts_rank`, and
a row's length is its count of distinct lexemes. `ts_rank` and `ts_rank_cd` alone know
nothing of how rare a word is: ranked by them, PostgreSQL's lexical recall@5 was 0.37
on the docstrings set and 0.42 on the manual pages; by BM25, 0.77 and 0.47 (FTS5's:
0.73 and 0.54; bench/retrieval_quality.py's sets, one chunk per source).

Both engines score every row that holds any of the words, so a query's cost is the sum
of its words' row counts. On PostgreSQL, when all of them together are more than
POSTINGS_BUDGET rows, a search takes two stages: the rows holding the rarest words,
within the budget (at least one), are ranked by the idf of every query word each holds,
and the best RESCORED of them are scored by BM25. Rows that hold only the most common
words are never scored: they rarely rank near the top, and scoring them is most of the
cost at 100k rows. Measured on 100k memories of one user (bench/realistic_corpus.py's
texts, the docstrings set's questions, one hit per source), with a budget of 10k rows:
recall@5 0.619 in two stages against 0.627 in one; the first stage ranked by `ts_rank`
before, which knows neither the common words nor how rare a word is, and lost a tenth
(0.527). The budget is now 5k (below).

FTS5 cannot score a chosen few rows without walking every word's rows, so SQLite
searches in one stage. A second stage in Python, on FTS5's own terms and statistics,
was tried: with 200 candidates it lost 0.09 of recall@5 at 100k memories, and with
1000, where it lost 0.03, it was as slow as one stage.

A table of many owners' rows (memory's entries) holds each row's owner in the index as
one token (`owner_token`): FTS5's `owner` column, a lexeme of the PostgreSQL tsvector. A
search for one owner's rows matches the token with the words, so the index itself
narrows to that owner: a B-tree bitmap of the owner's every row, which PostgreSQL's
planner otherwise ANDs with the words' rows, cost more than the words (11 of 25 ms for
a user with 100k memories). The owner column is checked again on what comes back, so a
collision of tokens can only drop a result, never show another owner's.

One file, one job: a module's word search on either backend. `Lexicon` (what
PostgreSQL's statistics say of a query's words) exists only to feed `_bm25` and the
choice of stages here, and nothing else reads it.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from .database import dialect_of

# At 100k rows (bench/memory_recall.py, and RAG's chunks of the same texts), recall@5 by
# words: 10k gave 0.619 for memory and 0.567 for RAG, 5k 0.604 and 0.559 (one stage:
# 0.627 and 0.544); RAG's word search took 49/78 ms (p50/p95) at 10k, 34/49 at 5k.
POSTINGS_BUDGET = 5_000
RESCORED = 200  # candidates the affordable words find, for every word to score
K1, B = 1.2, 0.75  # BM25's usual constants (FTS5's too)
# `ts_rank` of a row holding a word once: weight D (0.1) over the sum 1/i² tends to (π²/6).
ONCE = 0.1 / (math.pi**2 / 6)
LENGTH_SAMPLE = 200  # rows whose average length stands for the table's
PREFILTERED = 4  # SQLite: times the limit taken from the index before the table's conditions


@dataclass(frozen=True)
class FullTextIndex:
    """`fts_table` (SQLite) holds `key` (the row's id, hex) and the indexed columns;
    `tsvector` names the PostgreSQL column (`table.column`); `row_id` is the table's id;
    `owner`, for a table of many owners' rows, the table's owner column (the FTS5 table
    then has an `owner` column, and the tsvector the owner's token: `owner_token`),
    else None."""

    fts_table: str
    key: str
    tsvector: str
    row_id: QueryableAttribute[uuid.UUID]
    owner: QueryableAttribute[str] | None

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
        owner: str | None = None,
    ) -> list[tuple[uuid.UUID, float]]:
        """(row id, score) best first, higher is better on both backends; `conditions`
        narrow the table's rows; `owner` (required when the index has owners) whose
        rows they are."""
        if not words:
            return []
        if (owner is None) != (self.owner is None):
            raise ValueError("a search of an index of owners' rows names the owner")
        scope = None
        if self.owner is not None and owner is not None:
            scope = _Scope(self.owner, owner_token(owner, dialect_of(tx)))
        if dialect_of(tx) == "sqlite":
            # FTS5 cannot score a chosen few rows without walking every word's rows
            # (measured: slower than one stage), so SQLite searches in one.
            match = any_of(words) if scope is None else scope.fts5(words)
            return await self._sqlite(tx, match, conditions, limit, owner)
        lexicon = await self.lexicon(tx, words)
        terms = lexicon.terms(words)
        if not terms:
            return []  # only stop words
        affordable = lexicon.affordable(terms, POSTINGS_BUDGET)
        if len(affordable) == len(terms):
            rows = [_matches(self, terms, scope), *conditions]
            return _owned(await self._bm25(tx, lexicon, terms, rows, limit, scope), owner)
        # Two stages: candidates by the affordable words, then every word scores those.
        candidates = self._candidates(
            lexicon, affordable, terms, conditions, max(RESCORED, limit), scope
        )
        rows = [self.row_id.in_(candidates)]  # one statement: the ids stay in the database
        return _owned(await self._bm25(tx, lexicon, terms, rows, limit, scope), owner)

    def _candidates(
        self,
        lexicon: Lexicon,
        affordable: Sequence[str],
        terms: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        scope: _Scope | None,
    ) -> Select[uuid.UUID]:
        """The rows holding any of the `affordable` terms, best first by the weight of
        every term they hold (its idf, whatever its frequency or the row's length)."""
        document: ColumnElement[Any] = literal_column(self.tsvector)
        rank: ColumnElement[float] = literal(0.0)
        for term in terms:
            held = document.op("@@")(_tsquery([term]))
            rank = rank + case((held, lexicon.idf(term)), else_=0.0)
        return (
            select(self.row_id)
            .where(_matches(self, affordable, scope), *conditions)
            .order_by(rank.desc(), self.row_id)
            .limit(limit)
        )

    async def _bm25(
        self,
        tx: AsyncSession,
        lexicon: Lexicon,
        terms: Sequence[str],
        rows: Sequence[ColumnElement[bool]],
        limit: int,
        scope: _Scope | None,
    ) -> list[tuple[uuid.UUID, float, str | None]]:
        """The `rows` by BM25 over `terms`, best first. A term's frequency in a row is
        its `ts_rank` there over ONCE: 1, 1.25, 1.36, ... towards 1.64 (positions sum as
        1/i²; unnesting a tsvector to count them costs more than the rest of the search).
        A row's length is its count of distinct lexemes, against the average of the
        table's first LENGTH_SAMPLE rows (the same whatever is filtered, so a row scores
        the same in every search for the same words); each with its owner, if any."""
        document: ColumnElement[Any] = literal_column(self.tsvector)
        length = cast(func.length(document), Float) / lexicon.average_length
        norm = K1 * (1 - B + B * length)
        score: ColumnElement[float] = literal(0.0)
        for term in terms:
            query = _tsquery([term])
            frequency = func.ts_rank(document, query) / ONCE
            part = lexicon.idf(term) * frequency * (K1 + 1) / (frequency + norm)
            score = score + case((document.op("@@")(query), part), else_=0.0)
        owner = literal(None) if scope is None else scope.column
        found = await tx.execute(
            select(self.row_id, score, owner)
            .where(*rows)
            .order_by(score.desc(), self.row_id)
            .limit(limit)
        )
        return [(row[0], float(row[1]), row[2]) for row in found]

    async def _sqlite(
        self,
        tx: AsyncSession,
        match: str,
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        owner: str | None,
    ) -> list[tuple[uuid.UUID, float]]:
        """Ranked by BM25 (negated: higher is better)."""
        if self.owner is not None and owner is not None:
            conditions = [self.owner == owner, *conditions]
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

    async def lexicon(self, tx: AsyncSession, words: Sequence[str]) -> Lexicon:
        """The words' lexemes and how many rows hold each: from ANALYZE's most common
        lexemes of the column where it lists them, else counted in the index (such a
        lexeme is rarer than all of those, so counting it is cheap; capped all the same,
        for a table never analysed)."""
        table, column = self.tsvector.split(".")
        # One round trip: the statistics stay in the database (the list of common
        # lexemes runs to a thousand; sending it back and forth cost more than the rest).
        # reltuples is -1 for a table not counted since it was made or emptied.
        found = await tx.execute(
            text(
                "WITH stats AS (SELECT s.most_common_elems::text::text[] AS common, "
                "s.most_common_elem_freqs AS shares, GREATEST(c.reltuples, 0) AS total, "
                f"(SELECT avg(length({column})) FROM (SELECT {column} FROM {table} "
                f"LIMIT {LENGTH_SAMPLE}) AS sample) AS length "
                "FROM pg_class c LEFT JOIN pg_stats s ON s.tablename = c.relname "
                "AND s.schemaname = current_schema() AND s.attname = :c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = :t), "
                "query AS (SELECT w, l FROM unnest(CAST(:words AS text[])) AS w, "
                "unnest(tsvector_to_array(to_tsvector('english', w))) AS l) "
                "SELECT stats.total, stats.length, query.w, query.l, "
                "COALESCE(stats.shares[array_position(stats.common, query.l)] * stats.total, "
                f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {column} @@ "
                "to_tsquery('simple', query.l) LIMIT :cap) AS held)) "
                "FROM stats LEFT JOIN query ON true"
            ),
            {"t": table, "c": column, "words": list(words), "cap": POSTINGS_BUDGET + 1},
        )
        rows, length = 0.0, 1.0
        lexemes: dict[str, list[str]] = {}
        holding: dict[str, float] = {}
        for total, average, word, lexeme, held in found:
            rows, length = float(total), max(float(average or 1.0), 1.0)
            if lexeme is not None:
                lexemes.setdefault(word, []).append(lexeme)
                holding[lexeme] = float(held)
        rows = max(rows, *holding.values(), 1.0)
        return Lexicon(lexemes, holding, rows, length)


@dataclass(frozen=True)
class Lexicon:
    """What PostgreSQL knows of a query's words: each word's lexemes (none for a stop
    word), how many rows hold each lexeme, and how many rows there are."""

    lexemes: Mapping[str, Sequence[str]]
    rows_holding: Mapping[str, float]
    rows: float
    average_length: float  # distinct lexemes in a row, over the table's first rows

    def terms(self, words: Sequence[str]) -> list[str]:
        """The words' lexemes, once each, in the query's order."""
        return list(dict.fromkeys(t for w in words for t in self.lexemes.get(w, ())))

    def affordable(self, terms: Sequence[str], budget: int) -> list[str]:
        """The terms, rarest first, while their rows add up to `budget` (the rarest
        always), in the query's order."""
        kept: set[str] = set()
        total = 0.0
        for term in sorted(terms, key=lambda t: self.rows_holding.get(t, 0.0)):
            held = self.rows_holding.get(term, 0.0)
            if kept and total + held > budget:
                break
            kept.add(term)
            total += held
        return [t for t in terms if t in kept]

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency (the form that stays positive)."""
        held = self.rows_holding.get(term, 0.0)
        return math.log(1 + (self.rows - held + 0.5) / (held + 0.5))


def owner_token(owner: str, dialect: str) -> str:
    """The one token standing for an owner in the index, whatever the id's characters
    (a tokenizer would split `a.b@c`). PostgreSQL's is `'u' || md5(owner)`, which the
    table's generated tsvector computes; SQLite's was fixed earlier, and is kept."""
    if dialect == "postgresql":
        return "u" + hashlib.md5(owner.encode(), usedforsecurity=False).hexdigest()
    return "u" + hashlib.sha256(owner.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Scope:
    """One owner's rows: the table's owner column, and the owner's token in the index."""

    column: QueryableAttribute[str]
    token: str

    def fts5(self, words: Sequence[str]) -> str:
        return f'owner:"{self.token}" AND content:({any_of(words)})'


def _owned(
    found: Sequence[tuple[uuid.UUID, float, str | None]], owner: str | None
) -> list[tuple[uuid.UUID, float]]:
    """Only the owner's rows: checked here rather than in SQL, where the planner would
    read the owner's every row from its B-tree index (see the module's docstring)."""
    return [(row_id, score) for row_id, score, of in found if owner is None or of == owner]


def _tsquery(terms: Sequence[str]) -> ColumnElement[Any]:
    """Any of the lexemes (already stemmed: the `simple` configuration keeps them)."""
    return func.to_tsquery(literal_column("'simple'"), " | ".join(terms))


def _matches(
    index: FullTextIndex, terms: Sequence[str], scope: _Scope | None
) -> ColumnElement[bool]:
    """Rows holding any of the terms, and the owner's token when the search has one."""
    query = " | ".join(terms) if scope is None else f"{scope.token} & ({' | '.join(terms)})"
    return literal_column(index.tsvector).op("@@")(
        func.to_tsquery(literal_column("'simple'"), query)
    )


def any_of(words: Sequence[str]) -> str:
    """An FTS5 query matching any of the words (words are \\w+: no quotes inside)."""
    return " OR ".join(f'"{w}"' for w in words)
