"""One database per module: its own engine, pool and session factory, and nothing shared.

A service receives exactly one `ModuleDatabase` and claims it by name, so handing the
conversation service the billing database fails at construction, not in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from .settings import Settings
from .sqlite import connect_module_file, sqlean_dbapi

_WRITE = "bulkhead_write"
# Set in a session's `info` by whatever adds an outbox row to it.
EVENTS_WRITTEN = "bulkhead_events_written"


class BoundaryViolation(RuntimeError):
    """A module was handed something that belongs to another module."""


class ModuleDatabase:
    """The database a single module owns. Services reach it only through this object."""

    def __init__(self, module: str, engine: AsyncEngine) -> None:
        self.module = module
        self.engine = engine
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time. Queueing this process's writers here keeps them
        # out of SQLite's busy handler, whose sleeps of up to 100 ms ruin tail latency;
        # the busy timeout still arbitrates between processes.
        self._sqlite_writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._event_listeners: list[Callable[[], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def claim(self, module: str) -> ModuleDatabase:
        """Return self if this database belongs to `module`; refuse another module's."""
        if module != self.module:
            raise BoundaryViolation(
                f"the {module} module was handed the {self.module} module's database"
            )
        return self

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that writes: committed on exit, rolled back on error.

        On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up front, so two
        writers queue on the busy timeout instead of failing on a stale read snapshot.
        """
        async with self._sqlite_writer or nullcontext(), self._writes() as session:
            async with session.begin():
                yield session
            if session.info.pop(EVENTS_WRITTEN, False):
                for listener in self._event_listeners:
                    listener()

    def on_events_committed(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each commit that wrote to the outbox (wakes the relay)."""
        self._event_listeners.append(listener)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work: a consistent snapshot, never takes the write lock."""
        async with self._reads() as session, session.begin():
            yield session

    async def ping(self) -> float:
        """Run `SELECT 1`; return the round trip in milliseconds."""
        started = time.perf_counter()
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return (time.perf_counter() - started) * 1000

    async def scrub(self) -> None:
        """After deleting a user's data: on SQLite, fold the WAL back into the file and
        truncate it, so deleted rows linger neither there nor (secure_delete) in free
        pages. PostgreSQL's own VACUUM reclaims dead rows; nothing to do here."""
        if self.dialect != "sqlite":
            return
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_module_database(module: str, settings: Settings) -> ModuleDatabase:
    """Bind `module` to the database its settings name (a SQLite file by default)."""
    url = make_url(settings.database_url(module))
    if url.get_backend_name() == "sqlite":
        return ModuleDatabase(module, _sqlite_engine(Path(url.database or ""), settings))
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": f"bulkhead-{module}"}},
    )
    return ModuleDatabase(module, engine)


def _sqlite_engine(path: Path, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        async_creator=lambda: connect_module_file(path),
        module=sqlean_dbapi(),
        poolclass=AsyncAdaptedQueuePool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
    )

    @event.listens_for(engine.sync_engine, "begin")
    def begin_sqlite_transaction(conn: Connection) -> None:
        immediate: Any = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def dialect_of(tx: AsyncSession) -> str:
    """`sqlite` or `postgresql`: which SQL a query inside this transaction may use."""
    return tx.get_bind().dialect.name
