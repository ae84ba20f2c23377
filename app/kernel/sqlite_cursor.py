"""A SQLite statement in one trip to the driver's thread, not four.

aiosqlite runs every call on a connection in that connection's own thread, and
SQLAlchemy's adapter makes four calls a statement (a cursor, execute, fetch, close):
four hand-offs between threads, each a wake-up the worker waits to be scheduled for.
This cursor makes one call that does all four and brings back the rows, the
description, the row count and the last rowid. `SELECT 1` through a session: 0.37 ->
0.20 ms; memory's recall at 100k memories (about 20 statements, on two connections at
once), runs of 100 taking turns: p50 41 -> 38 ms, p95 55 -> 50 ms (medians of 6 runs).
A transaction's BEGIN (`database.py`) goes in the same trip as its first statement.

It uses two of aiosqlite's private names, as SQLAlchemy's own adapter does (its
isolation level setter): `Connection._execute`, which runs a function in the
connection's thread (every public method is built on it), and `Connection._conn`, the
sqlite3 connection there. `tests/kernel/test_sqlite_cursor.py` fails first if they go.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

# What one trip brings back: description, rows, row count, last rowid.
_Outcome = tuple[Any, list[Any], int, int | None]


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs, is fetched and closed in one call."""

    __slots__ = ("_description", "_lastrowid", "_one_trip", "_rowcount")

    def __init__(self, adapt_connection: OneTripConnection) -> None:
        # No driver cursor is made here: `_run` makes, uses and closes one in one trip.
        self._adapt_connection = self._one_trip = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    def close(self) -> None:
        self._rows.clear()  # the driver's cursor was closed in its trip

    async def _async_soft_close(self) -> None:
        return  # nothing open to close

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(lambda cursor: cursor.execute(operation, parameters or ()))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(lambda cursor: cursor.executemany(operation, seq_of_parameters))

    async def _run(self, call: Callable[[Any], object]) -> None:
        driver = self._connection
        begin = self._one_trip.statement_starts()

        def in_thread() -> _Outcome:
            if begin is not None:
                driver._conn.execute(begin)
            cursor = driver._conn.cursor()
            try:
                call(cursor)
                description = cursor.description
                rows = cursor.fetchall() if description else []
                return description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await driver._execute(in_thread)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """A connection whose transaction's BEGIN goes in its first statement's trip, and
    whose commit or rollback makes no trip when no statement ran since the last: a
    read transaction took four trips (BEGIN, its statement, COMMIT, and the pool's
    rollback as the connection came back), now two."""

    __slots__ = ("_begin", "_settled")
    _cursor_cls: type[AsyncAdapt_aiosqlite_cursor] = OneTripCursor

    def begin_with_next(self, begin: str) -> None:
        """Run `begin` (`BEGIN`, `BEGIN IMMEDIATE`) just before the next statement."""
        self._begin: str | None = begin

    def statement_starts(self) -> str | None:
        """A statement is about to be sent: the BEGIN to run before it, if one waits."""
        begin, self._begin = getattr(self, "_begin", None), None
        self._settled = False
        return begin

    def commit(self) -> None:
        if self._sent_since_settled():
            super().commit()
            self._settled = True

    def rollback(self) -> None:
        if self._sent_since_settled():
            super().rollback()
            self._settled = True

    def _sent_since_settled(self) -> bool:
        """Whether a statement was sent since the last commit or rollback, or since
        the connection opened (a BEGIN that waits is dropped: nothing followed it). A
        statement sent and cancelled counts: what ends it queues behind it."""
        self._begin = None
        return not getattr(self, "_settled", True)


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite adapter, its connections' statements in one trip each."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        return OneTripConnection(self, super().connect(*arg, **kw)._connection)
