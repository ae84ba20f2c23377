"""One database per module: its own engine, pool and session factory, and nothing shared.

A service receives exactly one `ModuleDatabase` and claims it by name, so handing the
conversation service the billing database fails at construction, not in production.

It is also the module's bulkhead: a database that cannot be reached makes only its own
module answer 503 (`ModuleUnavailable`, naming it), quickly. Getting a connection is
bounded (`BULKHEAD_DB_CONNECT_TIMEOUT_MS`), and after a few failures in a row a circuit
breaker refuses at once until one request, let through as a probe, finds it back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from contracts.errors import Unavailable

from .checkout_ping import ping_on_checkout
from .circuit_breaker import CircuitBreaker, CircuitOpen
from .database_failure import UNREACHABLE, failure_kind
from .settings import Settings
from .sqlite import connect_module_file, sqlean_dbapi
from .sqlite_cursor import OneTripConnection
from .telemetry.tracing import trace_statements

_WRITE = "bulkhead_write"
# Set in a session's `info` by whatever adds an outbox row to it.
EVENTS_WRITTEN = "bulkhead_events_written"


class BoundaryViolation(RuntimeError):
    """A module was handed something that belongs to another module."""


class ModuleUnavailable(Unavailable):
    """A module's database cannot be reached, is busy, or its breaker is open: 503 for
    that module's routes, while the other modules serve on."""


class ModuleDatabase:
    """The database a single module owns. Services reach it only through this object."""

    def __init__(
        self,
        module: str,
        engine: AsyncEngine,
        *,
        connect_timeout_s: float | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.module = module
        self.engine = engine
        trace_statements(engine, module)
        self._connect_timeout_s = connect_timeout_s
        self.breaker = breaker or CircuitBreaker(f"{module} database")
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        self._statements = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
        # SQLite has one writer at a time. Queueing this process's writers here keeps them
        # out of SQLite's busy handler, whose sleeps of up to 100 ms ruin tail latency;
        # the busy timeout still arbitrates between processes.
        self._sqlite_writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # The write transaction this task is in, for `unit_of_work` to join.
        self._current: ContextVar[AsyncSession | None] = ContextVar(f"{module}_tx", default=None)
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
            async with self._guarded(session), session.begin():
                await self._connect(session)
                token = self._current.set(session)
                try:
                    yield session
                finally:
                    self._current.reset(token)
            if session.info.pop(EVENTS_WRITTEN, False):
                for listener in self._event_listeners:
                    listener()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """The write transaction this task is already in on this database (its work then
        commits or rolls back with it), or a new one. For a part that is called both on its
        own and from inside a transaction (an event handler's): a second transaction would
        wait on the first (SQLite's one writer) and never be atomic with it."""
        current = self._current.get()
        if current is not None:
            yield current
            return
        async with self.transaction() as session:
            yield session

    def on_events_committed(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each commit that wrote to the outbox (wakes the relay)."""
        self._event_listeners.append(listener)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work: a consistent snapshot, never takes the write lock."""
        async with self._reads() as session, self._guarded(session), session.begin():
            await self._connect(session)
            yield session

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncSession]:
        """For one statement that is its own transaction, committed as it runs: no BEGIN
        and COMMIT round trips. PostgreSQL only: SQLite's writes take its lock first."""
        if self.dialect == "sqlite":
            raise TypeError("on SQLite a write takes the write lock: use transaction()")
        async with self._statements() as session, self._guarded(session):
            await self._connect(session)
            yield session

    @asynccontextmanager
    async def _guarded(self, session: AsyncSession) -> AsyncIterator[None]:
        """Fail fast while the breaker is open; turn a database failure met in the unit of
        work into this module's 503; count a unit of work that got through as a success."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise self._unavailable("is failing; refused at once for now", exc) from exc
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            failure = self._failed(exc)
            if failure is exc:
                self.breaker.succeeded()  # the database answered: the error is the request's
                raise
            raise failure from exc
        except ModuleUnavailable as exc:
            if exc.details.get("module") != self.module:  # another module's: ours answered
                self.breaker.succeeded()
            raise
        except BaseException:
            # The database answered and the request failed on its own (not found, refused,
            # cancelled): a probe must not leave the breaker waiting for it forever.
            self.breaker.succeeded()
            raise
        self.breaker.succeeded()

    async def _connect(self, session: AsyncSession) -> None:
        """Check a working connection out now, within the connect timeout (PostgreSQL: a
        server that accepts but never answers must not hold the request)."""
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await session.connection()
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise self._failed(exc, connecting=True) from exc

    def _failed(self, exc: BaseException, *, connecting: bool = False) -> BaseException:
        """This module's 503 for a database that is down or busy (the breaker counts the
        former); any other error (bad SQL, a refused statement) is left as it is."""
        kind = failure_kind(exc) or ("down" if connecting else None)
        if kind == "down":
            self.breaker.failed()
            return self._unavailable("cannot be reached right now", exc)
        if kind == "busy":
            return self._unavailable("is busy (locked by another writer)", exc)
        return exc

    def _unavailable(self, what: str, cause: BaseException) -> ModuleUnavailable:
        retry = cause.retry_after_s if isinstance(cause, CircuitOpen) else 1.0
        return ModuleUnavailable(
            f"the {self.module} module's database {what}; its other routes and every other "
            "module still answer; retry later",
            details={"module": self.module},
            retry_after_s=retry,
        )

    async def ping(self) -> float:
        """Run `SELECT 1` (even while the breaker is open: it is a probe, and its answer
        closes or opens the breaker); return the round trip in milliseconds."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except UNREACHABLE:
            self.breaker.failed()
            raise
        self.breaker.succeeded()
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
    breaker = CircuitBreaker(
        f"{module} database",
        threshold=settings.db_breaker_failures,
        open_s=settings.db_breaker_open_s,
    )
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(Path(url.database or ""), settings)
        return ModuleDatabase(module, engine, breaker=breaker)
    statement_ms = round(settings.db_statement_timeout_s * 1000)
    engine = create_async_engine(
        url,
        hide_parameters=True,  # errors (and so logs) never carry a row's values
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={
            "timeout": settings.db_connect_timeout_s,  # connecting, TLS and start-up
            # The client's own deadline, a little past the server's, for a server that
            # stops answering mid-statement.
            "command_timeout": settings.db_statement_timeout_s + 1,
            "server_settings": {
                "application_name": f"bulkhead-{module}",
                "statement_timeout": str(statement_ms),
            },
        },
    )
    ping_on_checkout(engine.sync_engine.pool)  # instead of `pool_pre_ping`
    return ModuleDatabase(
        module, engine, connect_timeout_s=settings.db_connect_timeout_s, breaker=breaker
    )


def _sqlite_engine(path: Path, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        hide_parameters=True,  # errors (and so logs) never carry a row's values
        async_creator=lambda: connect_module_file(path, round(settings.db_busy_timeout_s * 1000)),
        module=sqlean_dbapi(),
        poolclass=AsyncAdaptedQueuePool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
    )

    @event.listens_for(engine.sync_engine, "begin")
    def begin_sqlite_transaction(conn: Connection) -> None:
        # Run in the trip of the transaction's first statement (`sqlite_cursor`), before
        # it: a trip to the driver's thread fewer (a recall makes three transactions).
        immediate: Any = conn.get_execution_options().get(_WRITE, False)
        driver: OneTripConnection = conn.connection.dbapi_connection  # type: ignore[assignment]
        driver.begin_with_next("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def dialect_of(tx: AsyncSession) -> str:
    """`sqlite` or `postgresql`: which SQL a query inside this transaction may use."""
    return tx.get_bind().dialect.name
