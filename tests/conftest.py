"""Fixtures shared by every test: a fresh database set per test, on SQLite and PostgreSQL.

SQLite: a new data dir per test. PostgreSQL: `bulkhead db provision` once per run under a
random prefix (so provisioning itself is exercised), every table emptied before each
test, and the databases and roles dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis as redis_sync
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from app.kernel import migrations, provision, recent
from app.kernel.auth import create_token
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import DATABASES, create_app
from tests.pgvector_server import PgvectorServer

REDIS_URL = os.environ.get("BULKHEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get(
    "BULKHEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
T = TypeVar("T")
HOUSEKEEPING_CONNECT_S = 10.0  # a connection on a busy 2-core machine, not an outage
FAST_MODEL = "hashing-256"  # tests that need meaning ask for the default model themselves
JWT_SECRET = "test-secret-" + "x" * 40
MODULES = sorted(d.name for d in DATABASES)  # the modules and the saga store
EXTENSIONS = {m.name: m.postgres_extensions for m in DATABASES}
VECTOR_MODULES = [m for m in MODULES if "vector" in EXTENSIONS[m]]
PLAIN_MODULES = [m for m in MODULES if m not in VECTOR_MODULES]


@pytest.fixture(autouse=True)
def umask_restored() -> Iterator[None]:
    """CLI commands run in this process (CliRunner) set the server's private umask; it must
    not leak into later tests (the bundled PostgreSQL reads its files as another user)."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(autouse=True)
def statistics_read_anew() -> None:
    """What a process keeps of its databases' statistics (`app.kernel.recent`), forgotten:
    the PostgreSQL databases serve every test of a run, emptied and filled anew."""
    recent.forget_everything()


def run_in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code even inside a test's running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def postgres_unavailable_reason() -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await conn.close()

    try:
        run_in_own_loop(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({type(exc).__name__})"
    return None


async def upgrade_all(settings: Settings) -> None:
    await migrations.upgrade_modules(DATABASES, settings)


@pytest.fixture(scope="session")
def pgvector_admin_url() -> Iterator[str]:
    """A private PostgreSQL 16 with pgvector for modules that need it (Debian's 15 has none)."""
    try:
        server = PgvectorServer().start()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"could not start the bundled PostgreSQL with pgvector: {exc}")
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_urls(
    tmp_path_factory: pytest.TempPathFactory, pgvector_admin_url: str
) -> Iterator[dict[str, str]]:
    """One provisioned database + role per module for this test run: modules that need an
    extension (rag: pgvector) on the pgvector server, the others on the machine's server."""
    if reason := postgres_unavailable_reason():
        pytest.skip(reason)
    prefix = f"bhtest_{secrets.token_hex(4)}"
    output = tmp_path_factory.mktemp("pg") / "database-urls.json"
    servers = {POSTGRES_ADMIN_URL: PLAIN_MODULES, pgvector_admin_url: VECTOR_MODULES}
    try:
        for admin_url, modules in servers.items():
            done = run_in_own_loop(
                provision.provision(
                    admin_url, modules, prefix=prefix, output=output, extensions=EXTENSIONS
                )
            )
            assert not done.warnings, done.warnings
        run_in_own_loop(
            upgrade_all(
                Settings(database_urls=done.urls, db_connect_timeout_s=HOUSEKEEPING_CONNECT_S)
            )
        )
        yield done.urls
    finally:
        for admin_url, modules in servers.items():
            run_in_own_loop(provision.drop(admin_url, modules, prefix=prefix))


@pytest.fixture
def fresh_postgres_urls(postgres_urls: dict[str, str]) -> dict[str, str]:
    """The run's databases with every table emptied first, for a test that starts servers
    of its own: rows an earlier test on this worker left (a tool registered under the
    same name, then a 409) must not reach it."""
    run_in_own_loop(empty_postgres_tables(postgres_urls))
    return postgres_urls


async def empty_postgres_tables(urls: dict[str, str]) -> None:
    """Every table emptied, then the data modules ship (built-in tools) written again.
    Housekeeping waits for a connection longer than a request would (the default 1 s):
    on a machine busy with both test workers, connecting once took more than that."""
    settings = Settings(database_urls=urls, db_connect_timeout_s=HOUSEKEEPING_CONNECT_S)
    for module in DATABASES:
        database = open_module_database(module.name, settings)
        try:
            async with database.transaction() as tx:
                tables = ", ".join(f'"{t}"' for t in module.metadata.tables)
                await tx.execute(text(f"TRUNCATE {tables} CASCADE"))
            await migrations.seed(module, database, settings)
        finally:
            await database.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every module's SQLite file, migrated and seeded once per run: each test gets a copy
    (a few milliseconds, where migrating seven databases takes half a second)."""
    data_dir = tmp_path_factory.mktemp("migrated") / "var"
    run_in_own_loop(
        upgrade_all(Settings(data_dir=data_dir, jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL))
    )
    return data_dir


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Migrated databases for every module, on the backend named by the param."""
    base = Settings(data_dir=tmp_path / "var", jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL)
    if request.param == "sqlite":
        shutil.copytree(request.getfixturevalue("migrated_sqlite"), base.data_dir)
        return base
    urls: dict[str, str] = request.getfixturevalue("postgres_urls")
    await empty_postgres_tables(urls)
    # A new connection took over the default 1 s on a machine busy with both test
    # workers (CI, twice), and the request was a 503: these tests are not of outages
    # (those set their own), so they wait as housekeeping does.
    return replace(base, database_urls=urls, db_connect_timeout_s=HOUSEKEEPING_CONNECT_S)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on the embedded default, not yet migrated."""
    return Settings(data_dir=tmp_path / "var", jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def auth() -> Callable[..., dict[str, str]]:
    """`auth("alice")` / `auth("root", admin=True)` / `auth("alice", client="agent-a")`:
    headers with a valid bearer token."""

    def headers(user_id: str, *, admin: bool = False, client: str | None = None) -> dict[str, str]:
        token = create_token(
            JWT_SECRET, user_id, admin=admin, ttl=timedelta(minutes=10), client_id=client
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis_sync.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis_sync.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is removed afterwards."""
    prefix = f"bhtest-{secrets.token_hex(4)}"
    yield prefix
    client = redis_sync.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


async def events_settled(client: AsyncTestClient[Litestar], timeout_s: float = 30.0) -> None:
    """Wait until the server has applied every event written so far.

    Asked over HTTP: the test client runs the app (and its relay) on a loop of its own,
    which PostgreSQL connections cannot be shared across.
    """
    token = create_token(JWT_SECRET, "settle", admin=True, ttl=timedelta(minutes=10))
    admin = {"Authorization": f"Bearer {token}"}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await client.get("/v1/admin/events", headers=admin)
        status = response.json()
        # A 503 is a module's database not reached within the connect timeout (1 s), as
        # on a machine busy with both test workers: asked again, as a client would.
        if response.status_code != 503 and (
            status["consistency_lag_s"] == 0
            and not any(o["unpublished"] for o in status["outboxes"])
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"events did not settle within {timeout_s}s: {status}")
        await asyncio.sleep(0.02)
