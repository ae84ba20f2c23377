"""Cutting one module's PostgreSQL database off, as an operator would: new connections
refused (`ALLOW_CONNECTIONS false`) and the open ones ended; and letting it back."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL


async def allow_connections(url: str, allowed: bool) -> None:
    """`url` is the module's own database URL; the machine's admin does the cutting."""
    database = make_url(url).database
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {allowed}')
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
    finally:
        await admin.close()
