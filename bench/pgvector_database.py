"""A module's database on the bundled pgvector server, for one benchmark's run.

The benchmarks that compare SQLite with PostgreSQL each need the same thing: a new
database and role for one module, with pgvector, under a random prefix, dropped after.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from app.kernel import provision
from tests.pgvector_server import PgvectorServer


@asynccontextmanager
async def pgvector_database(
    server: PgvectorServer, module: str, data_dir: Path
) -> AsyncIterator[dict[str, str]]:
    """The database URLs that name `module`'s new database (its URL file in `data_dir`)."""
    prefix = f"bhbench_{secrets.token_hex(4)}"
    done = await provision.provision(
        server.admin_url,
        [module],
        prefix=prefix,
        output=data_dir / "urls.json",
        extensions={module: ["vector"]},
    )
    try:
        yield done.urls
    finally:
        await provision.drop(server.admin_url, [module], prefix=prefix)
