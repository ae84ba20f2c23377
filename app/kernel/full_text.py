"""Full-text search over a module's table: SQLite FTS5 (BM25) or PostgreSQL full text.

One implementation for every module that searches by words (RAG's chunks, memory's
entries); the module passes in its table. SQLite keeps an FTS5 table beside the module's
table, written with each row; PostgreSQL indexes a generated `to_tsvector('english', ...)`
column of the table itself (GIN). Both stem English. A query is reduced to its words
joined by OR, so no query syntax from users reaches the engine.

Both rank by BM25, FTS5's own on SQLite, computed in SQL on PostgreSQL; both in two
stages when the words are in many rows, scoring only the rows that hold the rarest of
them (`fts5_search`, `postgres_bm25`).

A table of many owners' rows (memory's entries) narrows a search to one owner's rows in
the index itself, by the owner's token (`owner_token`): on PostgreSQL a lexeme of the
tsvector, which the search names; on SQLite the token's range of FTS5 rowids, which the
search walks (`fts5_search`). A B-tree bitmap of the owner's every row, which
PostgreSQL's planner otherwise ANDs with the words' rows, cost more than the words (11
of 25 ms for a user with 100k memories). The owner column is checked again on what comes
back, so a collision of tokens can only drop a result, never show another owner's.

One file, one job: a module's word search on either backend, and whose rows it may find.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from .cross_join import cross_join
from .database import dialect_of
from .fts5_search import Fts5Table, any_of, rowid_range
from .one_of import one_of_parameter
from .postgres_bm25 import TsvectorColumn
from .read_along import NOTHING_ALONG, ReadAlong

PREFILTERED = 4  # SQLite: times the limit taken from the index before the table's conditions


@dataclass(frozen=True)
class FullTextIndex:
    """`fts_table` (SQLite) holds `key` (the row's id, hex) and the indexed columns;
    `tsvector` names the PostgreSQL column (`table.column`); `row_id` is the table's id;
    `owner`, for a table of many owners' rows, the table's owner column (the FTS5 table
    then numbers each owner's rows in a range, and the tsvector holds the owner's token:
    `owner_token`), else None."""

    fts_table: str
    key: str
    tsvector: str
    row_id: QueryableAttribute[uuid.UUID]
    owner: QueryableAttribute[str] | None

    async def add(
        self,
        tx: AsyncSession,
        rows: Sequence[Mapping[str, str]],
        owners: Sequence[str] | None = None,
    ) -> None:
        """Index rows on SQLite: each maps `key` and every indexed column to its text;
        `owners`, for an index of owners' rows, whose each row is."""
        if dialect_of(tx) != "sqlite" or not rows:
            return
        if (owners is None) != (self.owner is None):
            raise ValueError("rows of an index of owners' rows are added with their owners")
        values: list[dict[str, str | int]] = [dict(row) for row in rows]
        if owners is not None:
            tokens = [owner_token(owner, "sqlite") for owner in owners]
            for row, rowid in zip(values, await self.fts5.new_rowids(tx, tokens), strict=True):
                row["rowid"] = rowid
        columns = list(values[0])
        await tx.execute(
            text(
                f"INSERT INTO {self.fts_table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            ),
            values,
        )
        await self.fts5.tidy(tx)

    async def remove(self, tx: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
        if dialect_of(tx) == "sqlite" and ids:
            await tx.execute(
                text(f"DELETE FROM {self.fts_table} WHERE {self.key} IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": [i.hex for i in ids]},
            )
            await self.fts5.tidy(tx)

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
        self._check_owner(owner)
        if dialect_of(tx) != "sqlite":
            return await self._postgres(tx, words, conditions, limit, owner)
        if not conditions and self.owner is None:  # the FTS table alone
            return _ids(await self.fts5.search(tx, words, limit, None))
        found = await self._sqlite(tx, words, conditions, limit, owner, NOTHING_ALONG)
        return [(row[0], score) for row, score in found]

    async def search_reading(
        self,
        tx: AsyncSession,
        words: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        *,
        owner: str | None = None,
        along: ReadAlong,
    ) -> list[tuple[Row[Any], float]]:
        """`search`, each row found read with the columns `along` names: (row, score),
        the row's id first."""
        if not words:
            return []
        self._check_owner(owner)
        if dialect_of(tx) == "sqlite":
            return await self._sqlite(tx, words, conditions, limit, owner, along)
        found = await self._postgres(tx, words, conditions, limit, owner)
        return await self._read_along(tx, found, along)

    def _check_owner(self, owner: str | None) -> None:
        if (owner is None) != (self.owner is None):
            raise ValueError("a search of an index of owners' rows names the owner")

    async def _postgres(
        self,
        tx: AsyncSession,
        words: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        owner: str | None,
    ) -> list[tuple[uuid.UUID, float]]:
        found = await self.postgres.search(
            tx,
            words,
            conditions,
            limit,
            token=None if owner is None else owner_token(owner, "postgresql"),
            owner=self.owner if owner is not None else None,
        )
        return _owned(found, owner)

    async def _read_along(
        self, tx: AsyncSession, found: Sequence[tuple[uuid.UUID, float]], along: ReadAlong
    ) -> list[tuple[Row[Any], float]]:
        """The rows found, read with `along`'s columns, in the same order. A statement of
        its own on PostgreSQL, where the search's own starts before `along`'s values are
        there (memory's query vector): waiting for them delayed BM25 by more (at 100k,
        about 9 ms a recall) than the round trip it saved."""
        if not found:
            return []
        read = await tx.execute(
            _read_by_ids(self.row_id, tuple(along.columns)),
            {"found_ids": [i for i, _ in found], **await along.values()},
        )
        rows = {row[0]: row for row in read}
        return [(rows[i], score) for i, score in found if i in rows]

    @property
    def postgres(self) -> TsvectorColumn:
        """The PostgreSQL side: BM25 over the table's tsvector column."""
        return TsvectorColumn(self.tsvector, self.row_id)

    @property
    def fts5(self) -> Fts5Table:
        """The SQLite side: FTS5's BM25 over the FTS5 table."""
        return Fts5Table(self.fts_table, self.key)

    async def _sqlite(
        self,
        tx: AsyncSession,
        words: Sequence[str],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        owner: str | None,
        along: ReadAlong,
    ) -> list[tuple[Row[Any], float]]:
        owned = None
        if self.owner is not None and owner is not None:
            owned = await self.fts5.owner_rows(tx, owner_token(owner, "sqlite"))
            if owned is None:
                return []  # no row of this owner was ever indexed
            conditions = [self.owner == owner, *conditions]
        # The index's best few first, then the conditions on just those, and the columns
        # `along` names on the first `limit` that pass: joining every match to the table
        # was most of the cost (memory at 100k: 93 -> 35 ms). Exact: when `limit` of the
        # best pass, no row further down can outrank them.
        best_sql, values = await self.fts5.best_rows(tx, words, PREFILTERED * limit, owned)
        best = [
            (int(rowid), -float(score)) for rowid, score in await tx.execute(text(best_sql), values)
        ]
        kept = await self._passing(tx, best, conditions, limit, along) if best else []
        if len(kept) >= limit or len(best) < PREFILTERED * limit:
            return kept
        # Most of the best fail the conditions: every row holding a word, in one stage.
        within = "" if owned is None else " AND rowid BETWEEN :first AND :last"
        fts = (
            select(
                literal_column(self.key).label(self.key),
                literal_column(f"bm25({self.fts_table})").label("bm25"),
                literal_column("rowid").label("fts_rowid"),
            )
            .select_from(text(self.fts_table))
            .where(text(f"{self.fts_table} MATCH :match{within}"))
            .subquery()
        )
        found = await tx.execute(
            select(self.row_id, *along.columns, fts.c.bm25)
            .join(fts, fts.c[self.key] == self.row_id)
            .where(*conditions)
            .order_by(fts.c.bm25, fts.c.fts_rowid)  # equal scores as `Fts5Table` orders them
            .limit(limit),
            {"match": any_of(words), **rowid_range(owned), **await along.values()},
        )
        return [(row, -float(row.bm25)) for row in found]

    async def _passing(
        self,
        tx: AsyncSession,
        best: Sequence[tuple[int, float]],
        conditions: Sequence[ColumnElement[bool]],
        limit: int,
        along: ReadAlong,
    ) -> list[tuple[Row[Any], float]]:
        """The first `limit` of the `best` (FTS5 rowid, score) whose rows pass the
        conditions, in that order, each read with `along`'s columns: the rowids go in as
        one JSON array, walked in its order (`cross_join`) until `limit` pass, so only
        those are read and decoded. Sorted by position in SQL instead, every one of the
        best was read and its `along` computed first: memory's word search at 100k, this
        statement 3.55 -> 1.36 ms (p50; p95 5.71 -> 1.70)."""
        ranked = func.json_each(bindparam("found_rowids", type_=String)).table_valued(
            "key", "value", name="best"
        )
        fts = table(self.fts_table, column("rowid"), column(self.key)).alias("f")
        rows = self.row_id.property.columns[0].table
        walked = cross_join(
            cross_join(ranked, fts, fts.c.rowid == ranked.c.value),
            rows,
            self.row_id == fts.c[self.key],
        )
        found = await tx.execute(
            select(self.row_id, *along.columns, ranked.c.key)
            .select_from(walked)
            .where(*conditions)
            .limit(limit),
            {"found_rowids": json.dumps([rowid for rowid, _ in best]), **await along.values()},
        )
        return sorted(((row, best[row.key][1]) for row in found), key=lambda r: r[0].key)


@functools.lru_cache(maxsize=64)
def _read_by_ids(
    row_id: QueryableAttribute[uuid.UUID],
    columns: tuple[ColumnElement[Any] | QueryableAttribute[Any], ...],
) -> Select[Any]:
    """PostgreSQL: the rows of the ids `found_ids`, with `columns`; made once per index
    and columns, as building and keying it for the cache took more CPU than the read."""
    return select(row_id, *columns).where(one_of_parameter(row_id, "found_ids", "postgresql"))


def owner_token(owner: str, dialect: str) -> str:
    """The one token standing for an owner in the index, whatever the id's characters
    (a tokenizer would split `a.b@c`). PostgreSQL's is `'u' || md5(owner)`, which the
    table's generated tsvector computes; SQLite's was fixed earlier, and is kept."""
    if dialect == "postgresql":
        return "u" + hashlib.md5(owner.encode(), usedforsecurity=False).hexdigest()
    return "u" + hashlib.sha256(owner.encode()).hexdigest()[:32]


def _owned(
    found: Sequence[tuple[uuid.UUID, float, str | None]], owner: str | None
) -> list[tuple[uuid.UUID, float]]:
    """Only the owner's rows: checked here rather than in SQL, where the planner would
    read the owner's every row from its B-tree index (see the module's docstring)."""
    return [(row_id, score) for row_id, score, of in found if owner is None or of == owner]


def _ids(found: Sequence[tuple[str, float]]) -> list[tuple[uuid.UUID, float]]:
    return [(uuid.UUID(hex=key), score) for key, score in found]
