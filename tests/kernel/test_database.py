"""Each module binds its own database, and cannot be handed or reach another's."""

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from app.kernel.circuit_breaker import CircuitBreaker
from app.kernel.database import BoundaryViolation, ModuleUnavailable, open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.billing import module as billing_module
from app.modules.conversation import module as conversation_module
from contracts.errors import NotFound
from contracts.record import Contracts
from tests.fakes.tools import FakeTools


async def test_each_module_gets_its_own_sqlite_file(sqlite_settings: Settings) -> None:
    databases = {m: open_module_database(m, sqlite_settings) for m in ("conversation", "billing")}
    try:
        for database in databases.values():
            await database.ping()
        files = {p.name for p in sqlite_settings.data_dir.glob("*.sqlite3")}
        assert files == {"conversation.sqlite3", "billing.sqlite3"}
        assert databases["conversation"].engine is not databases["billing"].engine
    finally:
        for database in databases.values():
            await database.dispose()


async def test_module_connections_use_wal_foreign_keys_and_a_busy_timeout(
    sqlite_settings: Settings,
) -> None:
    database = open_module_database("conversation", sqlite_settings)
    try:
        async with database.read() as tx:
            pragmas = [
                (await tx.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
        assert pragmas == ["wal", 1, 5000]
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH DATABASE '{path}' AS other",
        "attach '{path}' as other",
        "/* harmless */ ATTACH\n'{path}' AS other",
        "ATTACH 'file:{path}?mode=ro' AS other",
    ],
)
async def test_attach_of_another_modules_file_is_refused(
    sqlite_settings: Settings, statement: str
) -> None:
    billing = open_module_database("billing", sqlite_settings)
    conversation = open_module_database("conversation", sqlite_settings)
    try:
        async with billing.transaction() as tx:
            await tx.execute(text("CREATE TABLE secrets (value TEXT)"))
            await tx.execute(text("INSERT INTO secrets VALUES ('billing only')"))
        path = sqlite_settings.data_dir / "billing.sqlite3"
        with pytest.raises(DatabaseError, match="not authorized"):
            async with conversation.transaction() as tx:
                await tx.execute(text(statement.format(path=path)))
        async with conversation.read() as tx:
            attached = (await tx.execute(text("PRAGMA database_list"))).all()
        assert [row[1] for row in attached] == ["main"]
    finally:
        await billing.dispose()
        await conversation.dispose()


async def test_attach_through_the_raw_driver_connection_is_refused(
    sqlite_settings: Settings,
) -> None:
    conversation = open_module_database("conversation", sqlite_settings)
    try:
        async with conversation.engine.connect() as conn:
            with pytest.raises(DatabaseError, match="not authorized"):
                await conn.exec_driver_sql(
                    f"ATTACH '{sqlite_settings.data_dir / 'billing.sqlite3'}' AS b"
                )
    finally:
        await conversation.dispose()


async def test_a_statement_outside_a_transaction_is_refused_on_sqlite(
    sqlite_settings: Settings,
) -> None:
    """SQLite's writes take its write lock first (BEGIN IMMEDIATE, one writer at a
    time), which a statement committed as it runs would skip."""
    database = open_module_database("memory", sqlite_settings)
    try:
        with pytest.raises(TypeError, match="write lock"):
            async with database.statement():
                pass
    finally:
        await database.dispose()


async def test_service_refuses_another_modules_database(sqlite_settings: Settings) -> None:
    billing_db = open_module_database("billing", sqlite_settings)
    contracts = Contracts.none_running().with_service("tools", FakeTools())
    try:
        with pytest.raises(BoundaryViolation, match="conversation module was handed the billing"):
            conversation_module.build_service(billing_db, sqlite_settings, contracts)
        with pytest.raises(BoundaryViolation):
            conversation_module.service(billing_db, sqlite_settings, contracts)
    finally:
        await billing_db.dispose()


def test_registry_holds_each_modules_own_metadata() -> None:
    assert REGISTRY["conversation"].metadata is conversation_module.metadata
    events = {"outbox", "inbox", "dead_letters", "forgotten_users"}  # every module's, for events
    assert set(conversation_module.metadata.tables) == {
        "sessions",
        "messages",
        "routing_decisions",
        *events,
    }
    assert set(billing_module.metadata.tables) == {"usage", "quotas", *events}


async def test_data_dir_is_created_on_first_use(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "dir")
    database = open_module_database("billing", settings)
    try:
        await database.ping()
    finally:
        await database.dispose()
    assert (tmp_path / "new" / "dir" / "billing.sqlite3").exists()


async def test_constraint_violation_is_a_sqlalchemy_integrity_error(
    sqlite_settings: Settings,
) -> None:
    """The sqlean driver's errors are recognised, so services can catch IntegrityError."""
    from sqlalchemy.exc import IntegrityError

    database = open_module_database("billing", sqlite_settings)
    try:
        async with database.transaction() as tx:
            await tx.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await tx.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(IntegrityError):
            async with database.transaction() as tx:
                await tx.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        await database.dispose()


async def test_sqlite_vec_is_loaded_but_further_extensions_are_not(
    sqlite_settings: Settings,
) -> None:
    database = open_module_database("billing", sqlite_settings)
    try:
        async with database.read() as tx:
            assert (await tx.execute(text("SELECT vec_version()"))).scalar()
        with pytest.raises(DatabaseError, match="not authorized"):
            async with database.read() as tx:
                await tx.execute(text("SELECT load_extension('/tmp/evil.so')"))
    finally:
        await database.dispose()


async def test_a_probe_that_fails_for_its_own_reasons_closes_the_breaker(
    sqlite_settings: Settings,
) -> None:
    """The database answered the probe; the request then failed (not found, refused): the
    breaker must close, not wait forever for a probe that ended."""
    now = [0.0]
    breaker = CircuitBreaker("billing database", threshold=1, open_s=1.0, clock=lambda: now[0])
    database = open_module_database("billing", sqlite_settings)
    database.breaker = breaker
    try:
        breaker.failed()
        with pytest.raises(ModuleUnavailable, match="refused at once"):
            async with database.read():
                pass
        now[0] += 1.5  # half open: the next unit of work is the probe
        with pytest.raises(NotFound):
            async with database.read():
                raise NotFound("no such quota")
        assert breaker.state == "closed"
        async with database.read() as tx:
            assert (await tx.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await database.dispose()
