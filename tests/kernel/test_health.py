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


async def test_liveness_holds_while_readiness_names_the_database_that_is_down(
    sqlite_settings: Settings,
) -> None:
    await upgrade_all(sqlite_settings)
    down = replace(
        sqlite_settings,
        database_urls={"billing": "postgresql+asyncpg://billing:pw@127.0.0.1:1/billing"},
    )
    async with AsyncTestClient(create_app(sqlite_settings)) as client:
        assert (await client.get("/health/ready")).json()["ready"] is True
    async with AsyncTestClient(create_app(down)) as client:
        live = await client.get("/health/live")  # no token: probes carry none
        ready = await client.get("/health/ready")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert ready.status_code == 503
    assert ready.json()["modules"]["billing"] is False
    assert ready.json()["modules"]["conversation"] is True


async def test_readiness_waits_for_the_remotes_its_modules_depend_on(
    sqlite_settings: Settings, redis_url: str
) -> None:
    """memory checks whose a session is with conversation: with conversation's process not
    answering, a memory service is not ready; one that runs conversation itself is."""
    await upgrade_all(sqlite_settings)
    from app.kernel.rpc.service_tokens import create_key_pair

    create_key_pair(sqlite_settings.data_dir / "keys", "memory")
    env = {"BULKHEAD_BUS_URL": redis_url, "BULKHEAD_SERVICE_NAME": "memory"}
    split = replace(
        sqlite_settings,
        modules=("memory",),
        remotes={"conversation": "http://127.0.0.1:1", "sagas": "http://127.0.0.1:1"},
        environ=env,
        groups={},
    )
    async with AsyncTestClient(create_app(split)) as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert ready.status_code == 503 and live.status_code == 200
    assert ready.json()["remotes"] == {"conversation": False}  # the saga store is not needed
    assert ready.json()["modules"]["memory"] is True
