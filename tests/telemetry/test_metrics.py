"""`/metrics`: admins only, in Prometheus's text format, counting what happened."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from app.kernel.settings import Settings
from app.main import create_app

Auth = Callable[..., dict[str, str]]
DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "bulkhead-dashboard.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parsed(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_calls_sagas_and_sandbox_runs(
    settings: Settings, auth: Auth
) -> None:
    admin = auth("root", admin=True)
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=auth("ana"))).status_code == 403
        before = parsed((await client.get("/metrics", headers=admin)).text)

        created = await client.post("/v1/sessions", json={"title": "t"}, headers=auth("ana"))
        assert created.status_code == 201
        run = await client.post(
            "/v1/tools/math.evaluate/executions",
            json={"params": {"expression": "1 + 1"}},
            headers=auth("ana"),
        )
        assert run.status_code == 201, run.text
        scraped = await client.get("/metrics", headers=admin)

    assert scraped.headers["content-type"].startswith("text/plain")
    after = parsed(scraped.text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "POST", "path": "/v1/sessions", "status_code": "201"}
    assert grew("bulkhead_requests_total", app_name="bulkhead", **route) == 1
    register = {"module": "billing", "method": "register_session", "outcome": "ok"}
    assert grew("bulkhead_contract_call_seconds_count", **register) == 1
    assert grew("bulkhead_sandbox_runs_total", status="succeeded") == 1
    assert value(after, "bulkhead_sagas", state="succeeded") >= 1
    assert value(after, "bulkhead_sagas", state="needs_attention") == 0
    # Every module's outbox is reported, and every consumer's dead letters.
    backlog = {
        dict(labels)["module"] for name, labels in after if name == "bulkhead_outbox_backlog"
    }
    assert {"conversation", "billing", "memory", "tools", "rag", "analytics"} <= backlog
    consumers = {
        dict(labels)["consumer"] for name, labels in after if name == "bulkhead_dead_letters"
    }
    assert consumers and all(
        value(after, "bulkhead_dead_letters", consumer=c) == 0 for c in consumers
    )
    if settings.database_urls:  # a PostgreSQL pool per module
        assert (
            "bulkhead_db_pool_connections",
            frozenset({("module", "memory"), ("state", "idle")}),
        ) in after


async def test_every_metric_the_dashboard_charts_is_exported(
    settings: Settings, auth: Auth
) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        scraped = await client.get("/metrics", headers=auth("root", admin=True))
    families = {family.name for family in text_string_to_metric_families(scraped.text)}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    charted = {
        re.sub(r"_(bucket|count|sum|total)$", "", name)
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"bulkhead_[a-z_]+", target["expr"])
    }
    assert len(charted) >= 10
    assert charted <= families, charted - families
