"""SQLite's word search: FTS5's BM25, in two stages when the words are in many rows.

FTS5 scores every row that holds any of a query's words, 2-3 µs a row (its length and
each word's hits there), and cannot score a chosen few rows without walking every
word's rows. So when the words are in more than POSTINGS_BUDGET rows together, the
search asks FTS5 two questions instead of one, split by the rarest words within the
budget (at least one):

    (rare) AND (common)    the rows holding a rare word and a common one, scored by all
    (rare)                 the rows holding a rare word, scored by the rare ones

A word a row lacks adds nothing to its score, so the first scores each row it returns
as one query of all the words would, with the same statistics, and so does the second
for a row holding no common word. A row of the second that holds a common word scores
less there than it does; if the first returned `limit` rows, it also scores less than
all of them (its whole score is at most the first's last, and its common words add to
it), and if the first returned fewer, it is among them: either way the first's score
replaces it or it falls below the cut. So the best of the two together, the first's
scores taking precedence, are the best of the rows that hold a rare word, scored as
one query would (`tests/kernel/test_fts5_two_stage.py`). The second names no common
word, so FTS5 neither walks their rows nor counts them for their statistics, as a
`(rare) NOT (common)` did (12.4/17.4 against 16.4/22.5 ms, p50/p95, 100k memories of one
user among 200k). Rows holding only common words are never scored: they rarely rank
near the top, and scoring them was most of the cost. Measured through memory's word
search, 100k memories of one user and 100k of others, the docstrings set's questions:
66/141 ms (p50/p95) in one stage, 37/56 in two; recall@5 0.588 in one, 0.573 in two.
PostgreSQL makes the same trade (`postgres_bm25`; ADR 0016).

How many rows hold a word comes from the index's `fts5vocab` table (`<table>_vocab`,
made by the module's migration); the word's terms, from FTS5's own tokenizer, run on an
in-memory table, so a word is looked up as the index stores it (stemmed). Those counts
also go into the scores: FTS5's bm25() would count every word's rows again, in the whole
index, with each search (3.2 of its 8.0 ms at p50, 100k memories of one user), so the
search ranks with `bm25_counted`, which takes them (`bm25_counted.py`). A count is up to
`term_counts.FRESH_S` old, as PostgreSQL's statistics are (`lexeme_statistics`).

An owner's rows (memory's) are a range of FTS5 rowids: each owner has a slot in
`<table>_owners`, by its token (`full_text.owner_token`), and its rows are numbered from
`slot << OWNER_SHIFT` on. FTS5 takes a rowid range into its walk of each word's rows,
skipping past other owners' rows in the index itself, so a search neither reads nor
scores them. A copy of the owner in each row, compared row by row, cost a seek into the
table's stored columns a row, and scored every owner's rows (100k memories of one user
among 200k: both queries 42.8 -> 21.1 ms at p50, the same rows and scores; ADR 0016).
The statistics are still the whole table's: FTS5 counts a word's rows for its IDF over
every owner's.

An owner who has been given no more rows than the budget is searched in one stage:
every row of theirs holding a word, scored by all of them.

A search walks each word's rows in every segment of the index, and FTS5 keeps many: it
writes each transaction's rows as a segment of their own and merges them only now and
then, four of a size at a time. 200k memories written 50 to a transaction left 21
segments (11 of them small), and the two queries took 11.5/19.3 ms (p50/p95) where one
merged segment took 8.9/16.0. So every write also merges a little (`Fts5Table.tidy`),
two segments of a size at a time (`usermerge`, set by each module's migration): the
same writes leave 10 segments, one or two a size, 10.5/17.9 ms. (Merging all of them
into one as the writes go, FTS5's incremental optimize, is not this: begun anew with
each write, it adds a level each time, and FTS5 soon fails with SQLITE_FULL.)
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlean
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from . import bm25_counted
from .rarest_words import rarest_within
from .recent import database_of
from .term_counts import RecentCounts

# The two queries alone at 100k memories of one user: 10k rows took 24/39 ms (p50/p95)
# for recall@5 0.565, 5k 18/32 ms for 0.542 (one stage: 49/110 ms, 0.588).
POSTINGS_BUDGET = 10_000
WORDS = "content"  # the FTS5 column of the words; an index's others hold its key
# An owner's rows are numbered from `slot << OWNER_SHIFT`: 2**40 rows each for 2**23 - 1
# owners, in a positive 64-bit rowid.
OWNER_SHIFT = 40
MAX_SLOT = (1 << (63 - OWNER_SHIFT)) - 1
TOKENIZE = "porter unicode61"  # every module's FTS5 table is made with this tokenizer
_COUNTS: RecentCounts = RecentCounts()  # rows holding each term, counted lately
# Merging with each write (`tidy`): at most this many pages (a memory's row writes one or
# two). Two segments of a size are enough to merge (`usermerge` 2, FTS5's default is 4),
# set on each index by its module's migration.
MERGE_PAGES = 32


@dataclass(frozen=True)
class OwnerRows:
    """An owner's rowids: from `first`, the lowest of its range, to `last`, the highest
    given so far (`first - 1` before the first)."""

    first: int
    last: int

    @property
    def given(self) -> int:
        """How many rows the owner has been given: those it holds, and any deleted."""
        return self.last - self.first + 1


@dataclass(frozen=True)
class Fts5Table:
    """`name` is the FTS5 table, `key` its column of each row's id (hex)."""

    name: str
    key: str

    async def search(
        self, tx: AsyncSession, words: Sequence[str], limit: int, owned: OwnerRows | None
    ) -> list[tuple[str, float]]:
        """(key, BM25) of the best `limit` rows holding any of the words (of the owner
        whose rows are given), best first: higher is better."""
        if not words:
            return []
        best, values = await self.best_rows(tx, words, limit, owned)
        # Ranked by rowid and score alone, which the index holds; the key read only for
        # the best, by rowid. Every matching row's key was read from the table before:
        # to order equal scores by it, 13.1 -> 8.5 ms for RAG's NOT query at 100k, and to
        # sort it along, 9.5 -> 8.0 more.
        found = await tx.execute(
            text(
                f"SELECT t.{self.key}, best.score FROM ({best}) AS best "
                f"JOIN {self.name} AS t ON t.rowid = best.id ORDER BY best.score, best.id"
            ),
            values,
        )
        return [(row[0], -float(row[1])) for row in found]

    async def best_rows(
        self, tx: AsyncSession, words: Sequence[str], limit: int, owned: OwnerRows | None
    ) -> tuple[str, dict[str, Any]]:
        """SQL of the `limit` best rows holding any of the (one or more) words, as
        (`id`, the FTS5 rowid; `score`, FTS5's BM25, lower is better), best first and
        equal scores in rowid order, with its parameters. In two stages, both are one
        statement (a round trip less): the rows of both, the first's scores over the
        second's (see above), which are never higher, as a word a row holds adds to its
        score (`min`)."""
        # Each stage: its MATCH, and its words in the order the MATCH names them.
        stages = [(any_of(words), list(words))]
        counts: dict[str, int] = {}
        if owned is None or owned.given > POSTINGS_BUDGET:
            counts = await self.rows_holding(tx, words)
            rare = rarest_within(words, counts, POSTINGS_BUDGET)
            common = [w for w in words if w not in rare]
            if common:
                stages = [
                    (f"{any_of(rare)} AND {any_of(common)}", rare + common),
                    (any_of(rare), rare),
                ]
        within = "" if owned is None else "AND rowid BETWEEN :first AND :last "
        values: dict[str, Any] = {"n": limit, **rowid_range(owned)}
        ranked = []
        for i, (match, named) in enumerate(stages):
            # A word FTS5 splits in several terms is a phrase: FTS5 counts its rows.
            held = [counts.get(w) if len(terms_of(w)) == 1 else None for w in named]
            score, given = bm25_counted.rank(self.name, held, f"held{i}")
            values |= {f"match{i}": match, **given}
            ranked.append(
                f"SELECT * FROM (SELECT rowid AS id, {score} AS score FROM {self.name} "
                f"WHERE {self.name} MATCH :match{i} {within}ORDER BY score, id LIMIT :n)"
            )
        best = ranked[0]
        if len(ranked) > 1:
            best = (
                f"SELECT id, min(score) AS score FROM ({' UNION ALL '.join(ranked)}) "
                "GROUP BY id ORDER BY score, id LIMIT :n"
            )
        return best, values

    async def owner_rows(self, tx: AsyncSession, owner_token: str) -> OwnerRows | None:
        """The owner's rowids, or None for an owner the index has never held. (One
        statement: each costs a round trip to the driver's thread, 0.9 ms on a slow
        machine.)"""
        found = (
            await tx.execute(
                text(
                    f"SELECT slot, (SELECT max(rowid) FROM {self.name} WHERE rowid "
                    f"BETWEEN slot << {OWNER_SHIFT} AND ((slot + 1) << {OWNER_SHIFT}) - 1) "
                    f"FROM {self.name}_owners WHERE owner_token = :owner"
                ),
                {"owner": owner_token},
            )
        ).first()
        if found is None:
            return None
        slot, last = int(found[0]), found[1]
        if not 0 < slot <= MAX_SLOT:
            raise OverflowError(f"{self.name} has given its {MAX_SLOT} owners' slots")
        first = slot << OWNER_SHIFT
        return OwnerRows(first, first - 1 if last is None else int(last))

    async def new_rowids(self, tx: AsyncSession, owner_tokens: Sequence[str]) -> list[int]:
        """Rowids for new rows of these owners, in order: each the next of its owner's
        range, a range given to an owner new to the index. (SQLite writes one
        transaction at a time, so the highest rowid read here stays the highest.)"""
        next_of: dict[str, int] = {}
        for token, count in Counter(owner_tokens).items():
            await tx.execute(
                text(
                    f"INSERT INTO {self.name}_owners (owner_token, slot) "
                    f"SELECT :owner, coalesce(max(slot), 0) + 1 FROM {self.name}_owners "
                    "WHERE true ON CONFLICT (owner_token) DO NOTHING"
                ),
                {"owner": token},
            )
            owned = await self.owner_rows(tx, token)
            assert owned is not None  # given above
            if owned.given + count > 1 << OWNER_SHIFT:
                raise OverflowError(f"an owner of {self.name} has used its range of rowids")
            next_of[token] = owned.last + 1
        rowids = []
        for token in owner_tokens:
            rowids.append(next_of[token])
            next_of[token] += 1
        return rowids

    async def tidy(self, tx: AsyncSession) -> None:
        """Merge up to MERGE_PAGES pages of the index's segments, where any size has
        `usermerge` of them: run with each write, it keeps the segments a search walks
        few (see above). Nothing to merge costs nothing."""
        await tx.execute(
            text(f"INSERT INTO {self.name} ({self.name}, rank) VALUES ('merge', :pages)"),
            {"pages": MERGE_PAGES},
        )

    async def rows_holding(self, tx: AsyncSession, words: Sequence[str]) -> dict[str, int]:
        """How many rows hold each word: for a word FTS5 splits in several terms, the
        fewest of theirs (it matches them as a phrase). Counted within the last
        `term_counts.FRESH_S`: they split the words in stages, and give each word its
        weight (`bm25_counted`)."""
        terms = {word: terms_of(word) for word in words}
        wanted = {term for found in terms.values() for term in found}
        place = (database_of(tx), self.name)
        counts = _COUNTS.recent(place, wanted)
        if missing := sorted(wanted - counts.keys()):
            counted = dict.fromkeys(missing, 0)  # a term in no row: not in the vocabulary
            for term, rows in await tx.execute(
                text(f"SELECT term, doc FROM {self.name}_vocab WHERE term IN :terms").bindparams(
                    bindparam("terms", expanding=True)
                ),
                {"terms": missing},
            ):
                counted[term] = int(rows)
            _COUNTS.keep(place, counted)
            counts |= counted
        return {
            word: min((counts.get(t, 0) for t in found), default=0) for word, found in terms.items()
        }


def rowid_range(owned: OwnerRows | None) -> dict[str, int]:
    """The bound parameters `first` and `last` of an owner's rows, if any."""
    return {} if owned is None else {"first": owned.first, "last": owned.last}


def any_of(words: Sequence[str]) -> str:
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
