"""SQLite statements go to the driver's thread once each, and still give SQLAlchemy
everything a cursor gives: rows and their columns, row counts, the last rowid, every
row of an executemany, and errors as the DB-API's own (so wrapped by type)."""

from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.settings import Settings


@pytest.fixture
async def database(sqlite_settings: Settings) -> AsyncIterator[ModuleDatabase]:
    database = open_module_database("conversation", sqlite_settings)
    async with database.transaction() as tx:
        await tx.execute(
            text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)")
        )
    yield database
    await database.dispose()


async def test_rows_columns_counts_and_last_rowid_come_back(database: ModuleDatabase) -> None:
    async with database.transaction() as tx:
        connection = await tx.connection()  # for the row counts and last rowid
        inserted = await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert inserted.lastrowid == 1 and inserted.rowcount == 1
        many = await connection.execute(
            text("INSERT INTO notes (body) VALUES (:b)"), [{"b": "b"}, {"b": "c"}, {"b": "d"}]
        )
        assert many.rowcount == 3
        updated = await connection.execute(text("UPDATE notes SET body = body || '!' WHERE id > 2"))
        assert updated.rowcount == 2
        found = await tx.execute(text("SELECT id, body FROM notes ORDER BY id"))
        assert list(found.keys()) == ["id", "body"]
        assert [tuple(row) for row in found] == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        returned = await tx.execute(text("DELETE FROM notes WHERE id = 4 RETURNING body"))
        assert returned.scalars().all() == ["d!"]
    async with database.read() as tx:  # committed, as the transaction said
        assert await tx.scalar(text("SELECT count(*) FROM notes")) == 3


async def test_an_error_is_the_dbapis_own_and_leaves_the_connection_usable(
    database: ModuleDatabase,
) -> None:
    with pytest.raises(IntegrityError, match="UNIQUE"):
        async with database.transaction() as tx:
            await tx.execute(text("INSERT INTO notes (body) VALUES ('x')"))
            await tx.execute(text("INSERT INTO notes (body) VALUES ('x')"))
    async with database.transaction() as tx:  # rolled back whole; the pool's connection works
        assert await tx.scalar(text("SELECT count(*) FROM notes")) == 0
        await tx.execute(text("INSERT INTO notes (body) VALUES ('x')"))


async def test_a_statement_is_one_call_into_the_drivers_thread(
    database: ModuleDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    run_in_thread: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await run_in_thread(self, fn, *args, **kwargs)

    async with database.read() as tx:
        await tx.execute(text("SELECT 1"))  # the transaction's BEGIN, before counting
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        rows = (await tx.execute(text("SELECT id, body FROM notes"))).all()
        assert rows == [] and len(calls) == 1, calls
