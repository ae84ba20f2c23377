"""One module's database down, hanging or locked: that module answers 503 naming itself,
the others serve on, and it comes back by itself. Against a real PostgreSQL (connections
refused with `ALLOW_CONNECTIONS false`, and a proxy that stops answering) and real SQLite
files (another process holding the write lock)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from app.kernel import migrations, provision
from app.kernel.settings import Settings
from app.main import DATABASES, create_app
from tests.conftest import POSTGRES_ADMIN_URL, postgres_unavailable_reason, run_in_own_loop
from tests.database_outage import allow_connections
from tests.tcp_proxy import TcpProxy

Client = AsyncTestClient[Litestar]
BILLING = next(d for d in DATABASES if d.name == "billing")


@pytest.fixture
def billing_on_postgres(tmp_path: Path) -> Iterator[str]:
    """Billing's own database and role on the machine's PostgreSQL (the others on SQLite)."""
    if reason := postgres_unavailable_reason():
        pytest.skip(reason)
    prefix = f"bhout_{secrets.token_hex(4)}"
    done = run_in_own_loop(
        provision.provision(
            POSTGRES_ADMIN_URL, ["billing"], prefix=prefix, output=tmp_path / "urls.json"
        )
    )
    try:
        yield done.urls["billing"]
    finally:
        run_in_own_loop(allow_connections(done.urls["billing"], True))
        run_in_own_loop(provision.drop(POSTGRES_ADMIN_URL, ["billing"], prefix=prefix))


@pytest.fixture
async def outage_settings(settings_on_sqlite: Settings, billing_on_postgres: str) -> Settings:
    return replace(
        settings_on_sqlite,
        database_urls={"billing": billing_on_postgres},
        db_breaker_open_s=0.2,  # probes come quickly, so recovery is seen quickly
    )


@pytest.fixture
def settings_on_sqlite(tmp_path: Path, migrated_sqlite: Path) -> Settings:
    from tests.conftest import FAST_MODEL, JWT_SECRET

    data_dir = tmp_path / "var"
    shutil.copytree(migrated_sqlite, data_dir)
    return Settings(data_dir=data_dir, jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL)


@pytest.fixture
async def client_for(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[Settings], Any]]:
    opened: list[AsyncTestClient[Litestar]] = []

    async def open_client(settings: Settings) -> Client:
        await migrations.upgrade_modules([BILLING], settings)
        client = AsyncTestClient(app=create_app(settings))
        await client.__aenter__()
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.__aexit__(None, None, None)


async def _until(check: Callable[[], Any], seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.1)


def _names_billing(answer: Any) -> bool:
    body = answer.json()
    return (
        answer.status_code == 503
        and body["details"]["module"] == "billing"
        and "billing" in body["detail"]
        and answer.headers.get("retry-after") is not None
    )


@pytest.mark.postgres
async def test_a_database_refusing_connections_is_one_modules_503_and_recovers(
    outage_settings: Settings,
    client_for: Callable[[Settings], Any],
    auth: Callable[..., dict[str, str]],
) -> None:
    client: Client = await client_for(outage_settings)
    alice = auth("alice")
    assert (await client.get("/v1/usage", headers=alice)).status_code == 200

    await allow_connections(outage_settings.database_urls["billing"], False)
    for _ in range(5):  # the first ones meet the refusal, then the open breaker
        answer = await client.get("/v1/usage", headers=alice)
        assert _names_billing(answer), answer.text
    assert "refused at once" in answer.json()["detail"]  # the breaker opened
    sessions = await client.get("/v1/sessions", headers=alice)
    assert sessions.status_code == 200  # conversation serves on, from its own database
    board = await client.get("/v1/dashboard", headers=auth("ops", admin=True))
    assert board.status_code == 200  # composition: billing's part fails, the rest answer
    parts = board.json()["parts"]
    assert parts["billing"]["ok"] is False and "billing" in parts["billing"]["error"]
    assert parts["conversation"]["ok"] and parts["memory"]["ok"]
    ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["modules"]["billing"] is False
    assert ready.json()["modules"]["conversation"] is True
    assert (await client.get("/health/live")).status_code == 200

    await allow_connections(outage_settings.database_urls["billing"], True)

    async def billing_answers() -> bool:
        return (await client.get("/v1/usage", headers=alice)).status_code == 200

    await _until(billing_answers)  # by itself: no restart
    assert (await client.get("/health/ready")).status_code == 200


@pytest.mark.postgres
async def test_a_database_that_accepts_but_never_answers_is_refused_not_waited_for(
    outage_settings: Settings,
    client_for: Callable[[Settings], Any],
    auth: Callable[..., dict[str, str]],
) -> None:
    direct = make_url(outage_settings.database_urls["billing"])
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).start()
    try:
        through = direct.set(port=proxy.port).render_as_string(hide_password=False)
        settings = replace(outage_settings, database_urls={"billing": through})
        client: Client = await client_for(settings)
        alice = auth("alice")
        assert (await client.get("/v1/usage", headers=alice)).status_code == 200

        proxy.hang()
        for _ in range(4):
            answer = await client.get("/v1/usage", headers=alice)
            assert _names_billing(answer), answer.text
        assert (await client.get("/v1/sessions", headers=alice)).status_code == 200

        proxy.resume()

        async def billing_answers() -> bool:
            return (await client.get("/v1/usage", headers=alice)).status_code == 200

        await _until(billing_answers)
    finally:
        proxy.stop()


@contextmanager
def _write_lock_held_by_another_process(path: Path) -> Iterator[None]:
    """A process (SQLite's locks are per process) inside a write until told to stop."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.communicate("", timeout=10)  # its stdin closes: it rolls back and exits


HOLD_THE_WRITE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.read()
connection.rollback()
"""


async def test_a_sqlite_file_locked_by_another_process_is_503_busy_for_its_module_only(
    settings_on_sqlite: Settings,
    auth: Callable[..., dict[str, str]],
) -> None:
    settings = replace(settings_on_sqlite, db_busy_timeout_s=0.2)
    async with AsyncTestClient(app=create_app(settings)) as client:
        admin, alice = auth("ops", admin=True), auth("alice")

        async def set_quota(limit: int) -> Any:
            body = {"max_active_sessions": limit}
            return await client.put("/v1/admin/quotas/alice", json=body, headers=admin)

        assert (await set_quota(7)).status_code == 200
        with _write_lock_held_by_another_process(settings.data_dir / "billing.sqlite3"):
            answer = await set_quota(8)
            assert _names_billing(answer), answer.text
            assert "busy" in answer.json()["detail"]
            usage = await client.get("/v1/usage", headers=alice)
            assert usage.status_code == 200  # reads go on beside the writer (WAL)
            sessions = await client.get("/v1/sessions", headers=alice)
            assert sessions.status_code == 200
        assert (await set_quota(8)).status_code == 200


@pytest.mark.redis
async def test_redis_hanging_is_working_memorys_503_and_the_rest_serve_on(
    settings_on_sqlite: Settings, redis_url: str, redis_prefix: str,
    auth: Callable[..., dict[str, str]],
) -> None:  # fmt: skip
    direct = make_url(redis_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 6379).start()
    try:
        through = f"redis://127.0.0.1:{proxy.port}/{direct.database or 0}"
        settings = replace(settings_on_sqlite, redis_url=through, redis_key_prefix=redis_prefix)
        async with AsyncTestClient(app=create_app(settings)) as client:
            alice = auth("alice")
            made = await client.post("/v1/sessions", json={"title": "t"}, headers=alice)
            assert made.status_code == 201, made.text
            path = f"/v1/sessions/{made.json()['id']}/working-memory"
            assert (await client.get(path, headers=alice)).status_code == 200

            proxy.hang()
            down = await client.get(path, headers=alice)
            assert down.status_code == 503
            assert f"Redis at 127.0.0.1:{proxy.port}" in down.json()["detail"]
            assert (await client.get("/v1/sessions", headers=alice)).status_code == 200
            memory = {"content": "likes tea", "importance": 0.5}
            remembered = await client.post("/v1/memories", json=memory, headers=alice)
            assert remembered.status_code == 201  # long-term memory is in its database

            proxy.resume()

            async def working_memory_answers() -> bool:
                return (await client.get(path, headers=alice)).status_code == 200

            await _until(working_memory_answers)  # the client reconnects by itself
    finally:
        proxy.stop()
