"""`/health` reports every module's database, and names the one that is down."""

from collections.abc import Callable
from dataclasses import replace

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import DATABASES, create_app
from tests.conftest import upgrade_all


async def test_health_reports_each_module_with_latency(
    client: AsyncTestClient[Litestar], auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get("/v1/admin/health", headers=auth("root", admin=True))
    assert response.status_code == 200
    modules = response.json()["modules"]
    assert set(modules) == {d.name for d in DATABASES}  # the saga store too
    assert all(m["ok"] and m["latency_ms"] >= 0 for m in modules.values())
    assert (await client.get("/v1/admin/health", headers=auth("alice"))).status_code == 403


async def test_public_health_says_up_or_not_and_nothing_more(
    sqlite_settings: Settings, auth: Callable[..., dict[str, str]]
) -> None:
    # A Redis that does not answer: its host, port and the error's class are details.
    await upgrade_all(sqlite_settings)
    settings = replace(sqlite_settings, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(create_app(settings)) as client:
        public = (await client.get("/health")).text
        details = (await client.get("/v1/admin/health", headers=auth("root", admin=True))).text
    assert "127.0.0.1:1" in details and "bubblewrap" in details  # the twin
    for secret in ("127.0.0.1", "Error", "bubblewrap", "latency"):
        assert secret not in public, public
    assert '"ok":false' in public


async def test_health_is_503_naming_the_module_whose_database_is_down(
    sqlite_settings: Settings, auth: Callable[..., dict[str, str]]
) -> None:
    # Nothing listens on port 1: the billing database is "down".
    await upgrade_all(sqlite_settings)
    settings = replace(
        sqlite_settings,
        database_urls={"billing": "postgresql+asyncpg://billing:pw@127.0.0.1:1/billing"},
    )
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/health")
        details = await client.get("/v1/admin/health", headers=auth("root", admin=True))
    assert response.status_code == 503 and details.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["modules"]["billing"]["ok"] is False
    assert "unreachable" in details.json()["modules"]["billing"]["error"]
    assert body["modules"]["conversation"]["ok"] is True
