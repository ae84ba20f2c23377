"""BM25 on PostgreSQL, computed in SQL over a table's generated tsvector column.

PostgreSQL's full text has no BM25 (ADR 0015). How many rows hold each word comes from
ANALYZE's most common lexemes of the column, or for a rarer word from the index; how
often a word occurs in a row is worked back from its `ts_rank` there, and a row's length
is its count of distinct lexemes. `ts_rank` and `ts_rank_cd` alone know nothing of how
rare a word is: ranked by them, PostgreSQL's lexical recall@5 was 0.37 on the docstrings
set and 0.42 on the manual pages; by BM25, 0.735 and 0.551 (FTS5's: 0.727 and 0.539;
bench/retrieval_quality.py's sets, one chunk per source).

Every row that holds any of the words is scored, so a query's cost is the sum of its
words' row counts. When all of them together are more than POSTINGS_BUDGET rows, a
search takes two stages: the rows holding the rarest words, within the budget (at least
one), are ranked by the idf of every query word each holds, and the best RESCORED of
them are scored by BM25. Rows that hold only the most common words are never scored:
they rarely rank near the top, and scoring them is most of the cost at 100k rows.
Measured on 100k memories of one user (bench/realistic_corpus.py's texts, the
docstrings set's questions, one hit per source), with a budget of 10k rows: recall@5
0.619 in two stages against 0.627 in one; the first stage ranked by `ts_rank` before,
which knows neither the common words nor how rare a word is, and lost a tenth (0.527).
The budget is now 5k (below).
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Select,
    String,
    Subquery,
    TextClause,
    bindparam,
    func,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from .lexeme_statistics import lexeme_statistics
from .rarest_words import rarest_within

# At 100k rows (bench/memory_recall.py, and RAG's chunks of the same texts), recall@5 by
# words: 10k gave 0.619 for memory and 0.567 for RAG, 5k 0.604 and 0.559 (one stage:
# 0.627 and 0.544); RAG's word search took 49/78 ms (p50/p95) at 10k, 34/49 at 5k.
POSTINGS_BUDGET = 5_000
RESCORED = 200  # candidates the affordable words find, for every word to score
K1, B = 1.2, 0.75  # BM25's usual constants (FTS5's too)
# `ts_rank` of a row holding a word once: weight D (0.1) over the sum of 1/i², π²/6.
SUM_ALL = math.pi**2 / 6
ONCE = 0.1 / SUM_ALL


def occurrences(tsvector: str, term: str) -> str:
    """SQL: how many times a row's `tsvector` holds the lexeme `term` (SQL too), at least 1.

    Worked back from `ts_rank`, as unnesting a tsvector to count its positions costs
    more than the rest of a search: n occurrences rank ONCE times the sum of 1/i² for i
    up to n, which falls short of π²/6 by very nearly 1/(n + ½), so n = 1/(π²/6 -
    rank/ONCE) - ½, rounded; exact in ts_rank's float4 for every count a tsvector keeps
    (at most 255 positions). Taken as rank/ONCE itself, 1 to 1.64, the count saturated
    twice, BM25's k1 on top: a word said ten times counted little more than once, and
    lexical recall@5 on the manual pages was 0.472 against FTS5's 0.539 (now 0.551)."""
    rank = f"ts_rank({tsvector}, to_tsquery('simple', {term})) / {ONCE!r}"
    return f"greatest(1, round(1 / greatest({SUM_ALL!r} - {rank}, 1e-3) - 0.5))"


@dataclass(frozen=True)
class TsvectorColumn:
    """`tsvector` names the generated column (`table.column`); `row_id` is the table's id."""

    tsvector: str
    row_id: QueryableAttribute[uuid.UUID]

    async def search(
        self,
        tx: AsyncSession,
        words: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        *,
        token: str | None = None,
        owner: QueryableAttribute[str] | None = None,
    ) -> list[tuple[uuid.UUID, float, str | None]]:
        """(row id, score, owner) best first; `conditions` narrow the rows; `token`, a
        lexeme every row searched holds (an owner's), and `owner`, a column to return."""
        lexicon = await self.lexicon(tx, words)
        terms = lexicon.terms(words)
        if not terms:
            return []  # only stop words
        affordable = lexicon.affordable(terms, POSTINGS_BUDGET)
        found = self._found(owner)
        if len(affordable) == len(terms):
            rows = found.where(self._matches(terms, token), *conditions).subquery("found")
        else:  # Two stages: candidates by the affordable words, then every word scores those.
            rows = self._candidates(
                found, affordable, len(terms), conditions, max(RESCORED, limit), token
            )
        return await self._bm25(tx, lexicon, terms, rows, limit)

    def _found(self, owner: QueryableAttribute[str] | None) -> Select[uuid.UUID, Any, str | None]:
        """The columns BM25 reads of each row found, and returns: its id, its tsvector
        and its owner (NULL when not asked for)."""
        return select(
            self.row_id.label("id"),
            literal_column(self.tsvector).label("tsv"),
            (null() if owner is None else owner).label("owner"),
        )

    def _candidates(
        self,
        found: Select[uuid.UUID, Any, str | None],
        affordable: Sequence[str],
        terms: int,
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        token: str | None,
    ) -> Subquery:
        """The rows holding any of the `affordable` terms, best first by the weight of
        every one of the query's `terms` terms they hold (its idf, whatever its frequency
        or the row's length; `_term_values` are the parameters), read whole as they are
        found: scored from the subquery, not looked up again by id (200 index lookups,
        1.2 of 7.7 ms at 100k memories)."""
        return (
            found.where(self._matches(affordable, token), *conditions)
            .order_by(_weight_sql(self.tsvector, terms))
            .order_by(self.row_id)
            .limit(limit)
            .subquery("candidates")
        )

    async def _bm25(
        self,
        tx: AsyncSession,
        lexicon: Lexicon,
        terms: Sequence[str],
        rows: Subquery,
        limit: int,
    ) -> list[tuple[uuid.UUID, float, str | None]]:
        """The `rows` (`_found`'s columns) by BM25 over `terms`, best first
        (`_score_sql`), each with its owner, if asked for."""
        found = await tx.execute(
            select(rows.c.id, _score_sql(f"{rows.name}.tsv", len(terms)), rows.c.owner)
            .order_by(text("2 DESC"), rows.c.id)  # the score, computed once
            .limit(limit),
            {"average_length": lexicon.average_length, **_term_values(lexicon, terms)},
        )
        return [(row[0], float(row[1]), row[2]) for row in found]

    async def lexicon(self, tx: AsyncSession, words: Sequence[str]) -> Lexicon:
        """The words' lexemes and how many rows hold each: from ANALYZE's most common
        lexemes of the column where it lists them (`lexeme_statistics`), else counted
        in the index (such a lexeme is rarer than all of those, so counting it is cheap;
        capped all the same, for a table never analysed)."""
        table, column = self.tsvector.split(".")
        known = await lexeme_statistics(tx, self.tsvector, self.row_id.key)
        # The same round trip asks for custom plans for the rest of the transaction: a
        # generic plan of the searches that follow parses each term's tsquery once a row,
        # not once a search, and ignores which owner and which words (RAG's two-stage
        # search at 100k chunks: 16.3 -> 7.7 ms p50; memory's: 47 -> 7 ms at 10k). It
        # returns a row even for none of the words (stop words alone), to set that.
        found = await tx.execute(
            text(
                "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), q.w, q.l, "
                "q.held FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT w, l, CASE WHEN "
                "strpos(:common, ' ' || l || ' ') > 0 THEN NULL ELSE (SELECT count(*) FROM "
                f"(SELECT 1 FROM {table} WHERE {column} @@ to_tsquery('simple', l) "
                "LIMIT :cap) AS held) END AS held FROM unnest(CAST(:words AS text[])) AS w, "
                "unnest(tsvector_to_array(to_tsvector('english', w))) AS l) AS q ON true"
            ),
            {"common": known.common, "words": list(words), "cap": POSTINGS_BUDGET + 1},
        )
        lexemes: dict[str, list[str]] = {}
        holding: dict[str, float] = {}
        for _, word, lexeme, held in found:
            if lexeme is not None:
                lexemes.setdefault(word, []).append(lexeme)
                common = known.rows_holding(lexeme)
                holding[lexeme] = float(held) if common is None else common
        rows = max(known.rows, *holding.values(), 1.0)
        return Lexicon(lexemes, holding, rows, known.average_length)

    def _matches(self, terms: Sequence[str], token: str | None) -> ColumnElement[bool]:
        """Rows holding any of the terms, and the token when the search has one."""
        query = " | ".join(terms) if token is None else f"{token} & ({' | '.join(terms)})"
        return literal_column(self.tsvector).op("@@")(
            func.to_tsquery(literal_column("'simple'"), query)
        )


@dataclass(frozen=True)
class Lexicon:
    """What PostgreSQL knows of a query's words: each word's lexemes (none for a stop
    word), how many rows hold each lexeme, and how many rows there are."""

    lexemes: Mapping[str, Sequence[str]]
    rows_holding: Mapping[str, float]
    rows: float
    average_length: float  # distinct lexemes in a row (`lexeme_statistics`)

    def terms(self, words: Sequence[str]) -> list[str]:
        """The words' lexemes, once each, in the query's order."""
        return list(dict.fromkeys(t for w in words for t in self.lexemes.get(w, ())))

    def affordable(self, terms: Sequence[str], budget: int) -> list[str]:
        """The terms, rarest first, while their rows add up to `budget` (the rarest
        always), in the query's order."""
        return rarest_within(terms, self.rows_holding, budget)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency (the form that stays positive)."""
        held = self.rows_holding.get(term, 0.0)
        return math.log(1 + (self.rows - held + 0.5) / (held + 0.5))


@functools.lru_cache(maxsize=256)
def _score_sql(tsvector: str, terms: int) -> TextClause:
    """SQL: a row's BM25 over a query's `terms` terms. A term's count in a row is
    `occurrences`; a row's length is its count of distinct lexemes, against the average
    of the table's `lexeme_statistics.LENGTH_SAMPLE` rows (the same whatever is filtered,
    so a row scores the same in every search for the same words).

    Text with a parameter per term (`_term_values`), and the average length: built as
    SQLAlchemy operators, its tree took 3.5 ms of Python to build and key for the cache,
    more than PostgreSQL took to compute it (memory's recall at 100k rows); the text is
    made once per column and count of terms, as parsing it anew took about 1.5 ms more."""
    norm = f"{K1!r} * ({1 - B!r} + {B!r} * length({tsvector})::float8 / :average_length)"
    parts = []
    for i in range(terms):
        frequency = occurrences(tsvector, f":term{i}")
        parts.append(
            f"CASE WHEN {_holds(tsvector, i)} THEN "
            f":idf{i} * {frequency} * {K1 + 1!r} / ({frequency} + {norm}) ELSE 0 END"
        )
    return text(f"({' + '.join(parts)})").bindparams(
        bindparam("average_length", type_=Float), *_term_parameters(terms)
    )


@functools.lru_cache(maxsize=256)
def _weight_sql(tsvector: str, terms: int) -> TextClause:
    """SQL: the sum of the idfs of the query's `terms` terms a row holds, highest first
    (made once per column and count of terms, as `_score_sql`)."""
    weight = " + ".join(
        f"CASE WHEN {_holds(tsvector, i)} THEN :idf{i} ELSE 0 END" for i in range(terms)
    )
    return text(f"({weight}) DESC").bindparams(*_term_parameters(terms))


def _holds(tsvector: str, i: int) -> str:
    """SQL: the row holds the query's i-th term."""
    return f"{tsvector} @@ to_tsquery('simple', :term{i})"


def _term_parameters(terms: int) -> list[BindParameter[Any]]:
    """The parameters of `terms` terms, each the term and its idf, given by `_term_values`."""
    found: list[BindParameter[Any]] = []
    for i in range(terms):
        found += [bindparam(f"term{i}", type_=String), bindparam(f"idf{i}", type_=Float)]
    return found


def _term_values(lexicon: Lexicon, terms: Sequence[str]) -> dict[str, Any]:
    """The values of `_term_parameters`: each term and its idf."""
    values: dict[str, Any] = {}
    for i, term in enumerate(terms):
        values[f"term{i}"], values[f"idf{i}"] = term, lexicon.idf(term)
    return values
