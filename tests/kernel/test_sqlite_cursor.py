"""SQLite statements go to the driver's thread once each, and still give SQLAlchemy
everything a cursor gives: rows and their columns, row counts, the last rowid, every
row of an executemany, and errors as the DB-API's own (so wrapped by type). A
transaction's BEGIN goes with its first statement, and still comes before it: a writer
holds the write lock before anything it reads."""

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiosqlite
import pytest
import sqlean
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.kernel.database import ModuleDatabase, ModuleUnavailable, open_module_database
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


def counted_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions run in any connection's thread, from now on."""
    calls: list[str] = []
    run_in_thread: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await run_in_thread(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return calls


async def test_a_statement_is_one_call_into_the_drivers_thread(
    database: ModuleDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with database.read() as tx:
        await tx.execute(text("SELECT 1"))  # the transaction's first statement, and BEGIN
        calls = counted_calls(monkeypatch)
        rows = (await tx.execute(text("SELECT id, body FROM notes"))).all()
        assert rows == [] and len(calls) == 1, calls
    calls.clear()
    async with database.read() as tx:  # BEGIN in the first statement's trip, then COMMIT
        assert (await tx.execute(text("SELECT count(*) FROM notes"))).scalar() == 0
    assert len(calls) == 2, calls
    calls.clear()
    async with database.transaction():  # nothing run: nothing began, nothing to end
        pass
    assert calls == []


async def test_a_writer_takes_the_lock_before_its_first_statement_reads(
    database: ModuleDatabase, sqlite_settings: Settings
) -> None:
    """Another process holds the write lock: a transaction's first statement, a read,
    waits for it and fails as busy (a read transaction's does not), and once the lock is
    free the transaction writes what it read, with no stale snapshot."""
    other = sqlean.connect(str(sqlite_settings.data_dir / "conversation.sqlite3"), timeout=0)
    quick = open_module_database("conversation", replace(sqlite_settings, db_busy_timeout_s=0.05))
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(ModuleUnavailable, match="busy"):
            async with quick.transaction() as tx:
                await tx.execute(text("SELECT count(*) FROM notes"))
        async with quick.read() as tx:
            assert await tx.scalar(text("SELECT count(*) FROM notes")) == 0
        other.execute("INSERT INTO notes (body) VALUES ('theirs')")
        other.execute("COMMIT")
        async with quick.transaction() as tx:
            seen = await tx.scalar(text("SELECT count(*) FROM notes"))
            await tx.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"after {seen}"})
        async with quick.read() as tx:
            assert await tx.scalar(text("SELECT body FROM notes WHERE id = 2")) == "after 1"
    finally:
        other.close()
        await quick.dispose()
