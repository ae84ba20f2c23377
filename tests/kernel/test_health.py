"""`/health` reports every module's database, and names the one that is down."""

from dataclasses import replace

from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import DATABASES, create_app


async def test_health_reports_each_module_with_latency(client: AsyncTestClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    modules = response.json()["modules"]
    assert set(modules) == {d.name for d in DATABASES}  # the saga store too
    assert all(m["ok"] and m["latency_ms"] >= 0 for m in modules.values())


async def test_health_is_503_naming_the_module_whose_database_is_down(
    sqlite_settings: Settings,
) -> None:
    # Nothing listens on port 1: the billing database is "down".
    settings = replace(
        sqlite_settings,
        database_urls={"billing": "postgresql+asyncpg://billing:pw@127.0.0.1:1/billing"},
    )
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["modules"]["billing"]["ok"] is False
    assert "unreachable" in body["modules"]["billing"]["error"]
    assert body["modules"]["conversation"]["ok"] is True
