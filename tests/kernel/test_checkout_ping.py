"""A pooled PostgreSQL connection that the server ended is replaced when it is checked
out, so the next unit of work succeeds on its first try: the backend it had is gone
(terminated, as a restart or an operator would), and it gets a new one."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres


async def backend_pid(database: ModuleDatabase) -> int:
    async with database.read() as tx:
        return int(await tx.scalar(text("SELECT pg_backend_pid()")) or 0)


async def test_a_pooled_connection_the_server_ended_is_replaced(
    postgres_urls: dict[str, str],
) -> None:
    database = open_module_database(
        "conversation", Settings(database_urls=postgres_urls, db_pool_size=1)
    )
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        first = await backend_pid(database)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first):
            await asyncio.sleep(0.01)
        second = await backend_pid(database)  # no error: the dead one was not handed out
        assert second not in (0, first)
        assert await backend_pid(database) == second  # and the new one is kept
    finally:
        await admin.close()
        await database.dispose()
