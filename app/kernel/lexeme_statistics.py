"""What PostgreSQL's ANALYZE knows of a tsvector column, read once a while per process.

BM25 on PostgreSQL (`postgres_bm25`) needs how many rows hold each of a query's lexemes,
how many rows there are, and a row's average length. ANALYZE lists a column's most
common lexemes, each with its share of the rows; read with every search through the
pg_stats view, and cast from its anyarray, they took two thirds of the search's first
statement (100 questions at 100k memories, that statement prepared as the driver does:
3.0-3.2 ms at p50 with them, 1.0-1.2 without, which passes the common lexemes in).
They change only when the table is analysed, so each process reads them per database
and column once every `recent.FRESH_S`, with the average length of the LENGTH_SAMPLE
rows of the lowest ids; a minute old, they change a score only when the table was
analysed, or those rows changed, within that minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .recent import Recent, database_of

# Rows whose average length stands for the table's: those of the lowest ids (uuid4s, so a
# random sample), the same in every search until they change. Not the first rows a scan
# meets: on a table of over a quarter of shared_buffers, a scan starts where another scan
# of it is (synchronize_seqscans), and the same search scored differently from one call
# to the next (7 of 40 questions returned other memories, at 100k).
LENGTH_SAMPLE = 200
KEPT = 64  # columns (of every database a process searches)


@dataclass(frozen=True)
class LexemeStatistics:
    # ANALYZE's most common lexemes, each between spaces (lexemes hold none): a search
    # sends them as one string, as an array of a thousand took 0.28 ms of the client's
    # CPU to encode and 0.35 ms of its time, each search (asyncpg).
    common: str
    shares: dict[str, float]  # each one's share of the rows
    rows: float  # the table's rows as ANALYZE counted them (0 before it has)
    average_length: float  # distinct lexemes in a row, over LENGTH_SAMPLE rows

    def rows_holding(self, lexeme: str) -> float | None:
        """How many rows hold a common lexeme (None for one ANALYZE does not list):
        its share times the rows, in float4 as PostgreSQL multiplied them before."""
        share = self.shares.get(lexeme)
        return None if share is None else float(np.float32(share) * np.float32(self.rows))


async def lexeme_statistics(tx: AsyncSession, tsvector: str, row_id: str) -> LexemeStatistics:
    """The statistics of `tsvector` (`table.column`), whose table's id column is
    `row_id`, read in the last FRESH_S or now."""
    place = (database_of(tx), tsvector)
    known = _KEPT.get(place)
    if known is None:
        known = await _read(tx, tsvector, row_id)
        _KEPT.keep(place, known)
    return known


async def _read(tx: AsyncSession, tsvector: str, row_id: str) -> LexemeStatistics:
    table, column = tsvector.split(".")
    # reltuples is -1 for a table not counted since it was made or emptied.
    common, shares, rows, length = (
        await tx.execute(
            text(
                "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, "
                "GREATEST(c.reltuples, 0), "
                f"(SELECT avg(length({column})) FROM (SELECT {column} FROM {table} "
                f"ORDER BY {row_id} LIMIT {LENGTH_SAMPLE}) AS sample) "
                "FROM pg_class c LEFT JOIN pg_stats s ON s.tablename = c.relname "
                "AND s.schemaname = current_schema() AND s.attname = :c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = :t"
            ),
            {"t": table, "c": column},
        )
    ).one()
    listed = list(common or [])
    return LexemeStatistics(
        common=f" {' '.join(listed)} ",
        # The shares end with three more: the least and most of them, and nulls'.
        shares=dict(zip(listed, shares or [], strict=False)),
        rows=float(rows),
        average_length=max(float(length or 1.0), 1.0),
    )


_KEPT: Recent[tuple[str, str], LexemeStatistics] = Recent(KEPT)
