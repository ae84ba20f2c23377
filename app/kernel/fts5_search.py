"""SQLite's word search: FTS5's BM25, in two stages when the words are in many rows.

FTS5 scores every row that holds any of a query's words, 2-3 µs a row (its length and
each word's hits there), and cannot score a chosen few rows without walking every
word's rows. So when the words are in more than POSTINGS_BUDGET rows together, the
search asks FTS5 two questions instead of one, split by the rarest words within the
budget (at least one):

    (rare) AND (common)    the rows holding a rare word and a common one
    (rare) NOT (common)    the rows holding a rare word and none of the common ones

Both name every word of the query, and a word a row lacks adds nothing to its score, so
FTS5 scores each row they return as one query of all the words would, with the same
statistics; the two lists do not overlap, and their best are the best of the rows that
hold a rare word. Rows holding only common words are never scored: they rarely rank
near the top, and scoring them was most of the cost. Measured through memory's word
search, 100k memories of one user and 100k of others, the docstrings set's questions:
66/141 ms (p50/p95) in one stage, 37/56 in two; recall@5 0.588 in one, 0.573 in two.
PostgreSQL makes the same trade (`postgres_bm25`; ADR 0016).

How many rows hold a word comes from the index's `fts5vocab` table (`<table>_vocab`,
made by the module's migration); the word's terms, from FTS5's own tokenizer, run on an
in-memory table, so a word is looked up as the index stores it (stemmed).

An owner's rows (memory's) are chosen by the token the table keeps of each row's owner
(OWNER_KEPT), and, for an owner of fewer rows than the budget, by the owner's token as a
word of the query too, so that FTS5 walks only the owner's rows. For an owner of more,
the token stays out of the query: as a word, its rows would be counted for its
statistics in every search (10 ms for a user with 100k memories). Other owners' rows
holding the words are then scored and dropped; the budget, counted over every owner's
rows, bounds them too. (The token as a word adds a little to every row's score: scores
of the two kinds of owner are not comparable, and need not be.)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import sqlean
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from .rarest_words import rarest_within

# The two queries alone at 100k memories of one user: 10k rows took 24/39 ms (p50/p95)
# for recall@5 0.565, 5k 18/32 ms for 0.542 (one stage: 49/110 ms, 0.588).
POSTINGS_BUDGET = 10_000
WORDS = "content"  # the FTS5 column of the words; an index's others hold its key, an owner
# An index of owners' rows: the owner's token indexed in `owner`, for a query to name, and
# kept in OWNER_KEPT (unindexed), for a search to compare: a contentless table keeps only
# its unindexed columns, a short row each, where reading the owner from a copy of the
# whole row cost a seventh of memory's search (ADR 0016).
OWNER_KEPT = "owner_token"
TOKENIZE = "porter unicode61"  # every module's FTS5 table is made with this tokenizer


@dataclass(frozen=True)
class Fts5Table:
    """`name` is the FTS5 table, `key` its column of each row's id (hex)."""

    name: str
    key: str

    async def search(
        self, tx: AsyncSession, words: Sequence[str], limit: int, owner_token: str | None
    ) -> list[tuple[str, float]]:
        """(key, BM25) of the best `limit` rows holding any of the words (of the owner
        whose token is given), best first: higher is better."""
        if not words:
            return []
        held = await self.rows_holding(tx, words)
        if owner_token is not None and await self._holds_few(tx, owner_token):
            # An owner of few rows: the token in the query narrows FTS5's walk to them.
            found = await self._ranked(tx, one_stage_match(words, owner_token), limit, owner_token)
            return _keyed(found)
        rare = rarest_within(words, held, POSTINGS_BUDGET)
        common = [w for w in words if w not in rare]
        if not common:
            return _keyed(await self._ranked(tx, _any_of(words), limit, owner_token))
        both = f"{_any_of(rare)} AND {_any_of(common)}"
        rare_only = f"{_any_of(rare)} NOT {_any_of(common)}"
        found = [
            *await self._ranked(tx, both, limit, owner_token),
            *await self._ranked(tx, rare_only, limit, owner_token),
        ]
        return _keyed(sorted(found, key=lambda hit: (-hit[1], hit[2]))[:limit])

    async def rows_holding(self, tx: AsyncSession, words: Sequence[str]) -> dict[str, int]:
        """How many rows hold each word: for a word FTS5 splits in several terms, the
        fewest of theirs (it matches them as a phrase)."""
        terms = {word: terms_of(word) for word in words}
        wanted = sorted({term for found in terms.values() for term in found})
        counts: dict[str, int] = {}
        if wanted:
            counts = {
                term: int(rows)
                for term, rows in await tx.execute(
                    text(
                        f"SELECT term, doc FROM {self.name}_vocab WHERE term IN :terms"
                    ).bindparams(bindparam("terms", expanding=True)),
                    {"terms": wanted},
                )
            }
        return {
            word: min((counts.get(t, 0) for t in found), default=0) for word, found in terms.items()
        }

    async def _holds_few(self, tx: AsyncSession, owner_token: str) -> bool:
        """Whether the owner has no more rows than the budget: counted up to it, where
        `rows_holding` would count all of them (2.4 of 4.4 ms for a user of 100k)."""
        found = await tx.scalar(
            text(
                f"SELECT count(*) FROM (SELECT 1 FROM {self.name} "
                f"WHERE {self.name} MATCH :owner LIMIT :over)"
            ),
            {"owner": _owner(owner_token), "over": POSTINGS_BUDGET + 1},
        )
        return int(found or 0) <= POSTINGS_BUDGET

    async def _ranked(
        self, tx: AsyncSession, match: str, limit: int, owner_token: str | None
    ) -> list[tuple[str, float, int]]:
        """(key, BM25, FTS5 rowid) of the best `limit` rows the match finds, best first,
        equal scores in rowid order."""
        owned = "" if owner_token is None else f"AND {OWNER_KEPT} = :owner "
        # Ranked by rowid and score alone, which the index holds; the key read only for
        # the best, by rowid. Every matching row's key was read from the table before:
        # to order equal scores by it, 13.1 -> 8.5 ms for RAG's NOT query at 100k, and to
        # sort it along, 9.5 -> 8.0 more. (`bm25()` as a column: `rank` is the same.)
        found = await tx.execute(
            text(
                f"SELECT t.{self.key}, best.score, best.id FROM (SELECT rowid AS id, "
                f"bm25({self.name}) AS score FROM {self.name} WHERE {self.name} MATCH :match "
                f"{owned}ORDER BY score, id LIMIT :n) AS best "
                f"JOIN {self.name} AS t ON t.rowid = best.id ORDER BY best.score, best.id"
            ),
            {"match": match, "owner": owner_token, "n": limit},
        )
        return [(row[0], -float(row[1]), row[2]) for row in found]


def _keyed(found: Sequence[tuple[str, float, int]]) -> list[tuple[str, float]]:
    return [(key, score) for key, score, _ in found]


def one_stage_match(words: Sequence[str], owner_token: str | None) -> str:
    """An FTS5 query of every row holding any of the words (and the owner's token, if
    given), scored by all of them."""
    if owner_token is None:
        return _any_of(words)
    return f"{_owner(owner_token)} AND {_any_of(words)}"


def _owner(owner_token: str) -> str:
    """The owner's rows: its token in the owner column."""
    return f'owner:"{owner_token}"'


def _any_of(words: Sequence[str]) -> str:
    """Any of the words, in the words column (words are \\w+: no quotes inside)."""
    quoted = " OR ".join(f'"{w}"' for w in words)
    return f"{WORDS}:({quoted})"


_TOKENIZER_LOCK = threading.Lock()


@functools.cache
def _tokenizer() -> sqlean.Connection:
    connection = sqlean.connect(":memory:", check_same_thread=False)
    connection.execute(f"CREATE VIRTUAL TABLE words USING fts5(word, tokenize = '{TOKENIZE}')")
    connection.execute("CREATE VIRTUAL TABLE terms USING fts5vocab(words, instance)")
    return connection


@functools.lru_cache(maxsize=65_536)
def terms_of(word: str) -> tuple[str, ...]:
    """The terms FTS5 indexes for a word (lower-cased, stemmed), from its own tokenizer."""
    with _TOKENIZER_LOCK:
        connection = _tokenizer()
        connection.execute("DELETE FROM words")
        connection.execute("INSERT INTO words (word) VALUES (?)", (word,))
        return tuple(
            term for (term,) in connection.execute("SELECT term FROM terms ORDER BY offset")
        )
