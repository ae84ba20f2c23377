"""On PostgreSQL every module has a role and a database, and no role reaches another's."""

import json
import stat
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from app.kernel import provision
from app.kernel.boundary_check import run_checks
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from tests.conftest import PLAIN_MODULES, POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres


async def connect_as(urls: dict[str, str], role_of: str, database_of: str) -> asyncpg.Connection:
    credentials, target = make_url(urls[role_of]), make_url(urls[database_of])
    return await asyncpg.connect(
        host=target.host,
        port=target.port,
        database=target.database,
        user=credentials.username,
        password=credentials.password,
    )


@pytest.mark.parametrize(
    ("role_of", "database_of"), [("conversation", "billing"), ("billing", "conversation")]
)
async def test_module_role_cannot_connect_to_another_modules_database(
    postgres_urls: dict[str, str], role_of: str, database_of: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await connect_as(postgres_urls, role_of, database_of)


async def test_module_role_connects_to_its_own_database(postgres_urls: dict[str, str]) -> None:
    for module in postgres_urls:
        conn = await connect_as(postgres_urls, module, module)
        assert (
            await conn.fetchval("SELECT current_user") == make_url(postgres_urls[module]).username
        )
        await conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM usage",
        "SELECT * FROM public.quotas",
        "SELECT * FROM {billing_db}.public.usage",
    ],
)
async def test_raw_sql_through_the_conversation_engine_cannot_read_billing_tables(
    postgres_urls: dict[str, str], statement: str
) -> None:
    database = open_module_database("conversation", Settings(database_urls=postgres_urls))
    billing_db = make_url(postgres_urls["billing"]).database
    try:
        with pytest.raises((ProgrammingError, DBAPIError)):
            async with database.read() as tx:
                await tx.execute(text(statement.format(billing_db=billing_db)))
    finally:
        await database.dispose()


async def test_provision_twice_is_harmless(postgres_urls: dict[str, str], tmp_path: Path) -> None:
    output = tmp_path / "urls.json"
    output.write_text(json.dumps(postgres_urls))
    prefix = str(make_url(postgres_urls["billing"]).database).rsplit("_billing", 1)[0]
    again = await provision.provision(
        POSTGRES_ADMIN_URL, PLAIN_MODULES, prefix=prefix, output=output
    )
    assert again.urls == postgres_urls and again.warnings == []
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    conn = await connect_as(again.urls, "billing", "billing")
    assert await conn.fetchval("SELECT count(*) FROM quotas") >= 0
    await conn.close()


async def test_check_passes_on_provisioned_databases(
    postgres_urls: dict[str, str], tmp_path: Path
) -> None:
    report = await run_checks(
        REGISTRY, Settings(database_urls=postgres_urls), Path("importlinter.ini")
    )
    assert report.ok, report.render()
    assert any(f.check == "postgres roles" and f.ok for f in report.findings)


async def test_check_fails_when_a_database_is_opened_to_public(
    postgres_urls: dict[str, str],
) -> None:
    """The twin: grant CONNECT to PUBLIC on billing's database and the check must say so."""
    billing_db = make_url(postgres_urls["billing"]).database
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'GRANT CONNECT ON DATABASE "{billing_db}" TO PUBLIC')
        report = await run_checks(
            REGISTRY, Settings(database_urls=postgres_urls), Path("importlinter.ini")
        )
    finally:
        await admin.execute(f'REVOKE CONNECT ON DATABASE "{billing_db}" FROM PUBLIC')
        await admin.close()
    assert not report.ok
    assert "the conversation role can connect to the billing database" in report.render()
