"""The tools module over HTTP: admin routes, status codes, headers, and a free event loop."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import create_app
from app.modules.tools.settings import ToolsSettings

Auth = Callable[..., dict[str, str]]
SLEEPER = {
    "name": "demo.sleep",
    "source": "import json, time\ntime.sleep(0.1)\nprint(json.dumps('slept'))",
    "schema": {"type": "object"},
}


async def test_admin_registers_versions_disables_and_deletes_a_tool(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    admin = auth("root", admin=True)
    tool = {**SLEEPER, "name": "demo.echo", "source": "print(1)"}
    assert (await client.post("/v1/tools", json=tool, headers=auth("alice"))).status_code == 403
    created = await client.post("/v1/tools", json=tool, headers=admin)
    assert created.status_code == 201 and created.json()["version"] == 1
    again = await client.post("/v1/tools", json=tool, headers=admin)
    assert (again.status_code, again.json()["code"]) == (409, "ToolExists")
    second = await client.post(
        "/v1/tools/demo.echo/versions", json={"source": "print(2)"}, headers=admin
    )
    assert second.json()["version"] == 2
    versions = await client.get("/v1/tools/demo.echo/versions", headers=auth("alice"))
    assert [v["source"] for v in versions.json()["items"]] == ["print(1)", "print(2)"]
    pinned = await client.get("/v1/tools/demo.echo?version=1", headers=auth("alice"))
    assert pinned.json()["source"] == "print(1)"
    disabled = await client.patch(
        "/v1/tools/demo.echo/versions/2", json={"enabled": False}, headers=admin
    )
    assert [v["enabled"] for v in disabled.json()["items"]] == [True, False]
    current = await client.get("/v1/tools/demo.echo", headers=auth("alice"))
    assert current.json()["version"] == 1
    assert (await client.delete("/v1/tools/demo.echo", headers=admin)).status_code == 204
    gone = await client.get("/v1/tools/demo.echo", headers=auth("alice"))
    assert gone.status_code == 404


async def test_bad_tool_definitions_are_422_naming_the_field(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    admin = auth("root", admin=True)
    cases = {  # field: (body, status): 400 the DTO refuses it, 422 the service does
        "schema": ({**SLEEPER, "schema": {"type": "no-such-type"}}, 422),
        "name": ({**SLEEPER, "name": "Bad Name"}, 400),
        "timeout_s": ({**SLEEPER, "timeout_s": 600}, 400),
    }
    for field, (body, status) in cases.items():
        response = await client.post("/v1/tools", json=body, headers=admin)
        assert response.status_code == status, response.text
        assert field in response.text
    reserved = await client.post("/v1/tools", json={**SLEEPER, "name": "stats"}, headers=admin)
    assert (reserved.status_code, reserved.json()["field"]) == (422, "name")


async def test_execution_errors_carry_status_reason_and_audit_id(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    admin = auth("root", admin=True)
    alice = auth("alice", client="agent-a")
    invalid = await client.post(
        "/v1/tools/text.stats/executions", json={"params": {"text": 5}}, headers=alice
    )
    assert (invalid.status_code, invalid.json()["field"]) == (422, "params.text")
    policy = await client.put(
        "/v1/tools/policies/agent-a", json={"allowed_tools": ["math.*"]}, headers=admin
    )
    assert policy.json() == {
        "client_id": "agent-a",
        "allowed_tools": ["math.*"],
        "source": "admin",
    }
    blocked = await client.post(
        "/v1/tools/text.stats/executions", json={"params": {"text": "x"}}, headers=alice
    )
    body = blocked.json()
    assert (blocked.status_code, body["code"]) == (403, "ToolNotAllowed")
    assert body["details"]["client_id"] == "agent-a" and body["details"]["rule"] == "allow_list"
    logged = await client.get(
        f"/v1/tools/executions/{body['details']['execution_id']}", headers=alice
    )
    assert (logged.json()["status"], logged.json()["client_id"]) == ("refused", "agent-a")
    # Another user cannot read it; an admin can.
    other = await client.get(
        f"/v1/tools/executions/{body['details']['execution_id']}", headers=auth("bob")
    )
    assert other.status_code == 404
    audit = await client.get("/v1/tools/executions?status=refused", headers=admin)
    assert [e["tool_name"] for e in audit.json()["items"]] == ["text.stats"]
    assert (await client.get("/v1/tools/executions", headers=alice)).status_code == 403


async def test_rate_limited_call_is_429_with_retry_after(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    admin = auth("root", admin=True)
    await client.post(
        "/v1/tools",
        json={
            **SLEEPER,
            "name": "demo.once",
            "source": "print(1)",
            "rate_limit": {"calls": 1, "window_s": 3600},
        },
        headers=admin,
    )
    first = await client.post("/v1/tools/demo.once/executions", json={"params": {}}, headers=admin)
    assert first.status_code == 201
    second = await client.post("/v1/tools/demo.once/executions", json={"params": {}}, headers=admin)
    assert second.status_code == 429
    assert second.json()["code"] == "ToolRateLimited"
    assert 1 <= int(second.headers["Retry-After"]) <= 7200


async def test_missing_bwrap_is_503_and_health_says_so(settings: Settings, auth: Auth) -> None:
    settings = settings.with_values(ToolsSettings, sandbox_bwrap="/nonexistent/bwrap")
    async with AsyncTestClient(create_app(settings)) as client:
        health = await client.get("/v1/admin/health", headers=auth("root", admin=True))
        run = await client.post(
            "/v1/tools/math.evaluate/executions",
            json={"params": {"expression": "1+1"}},
            headers=auth("alice"),
        )
    assert health.status_code == 200  # the rest of the server works
    assert health.json()["status"] == "degraded"
    assert "bubblewrap" in health.json()["components"]["tools.sandbox"]["error"]
    assert (run.status_code, run.json()["code"]) == (503, "SandboxUnavailable")
    assert "bubblewrap" in run.json()["detail"]


async def test_tool_stats_route_is_admin_only(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    assert (await client.get("/v1/tools/stats", headers=auth("alice"))).status_code == 403
    stats = await client.get("/v1/tools/stats?range=1h", headers=auth("root", admin=True))
    assert stats.status_code == 200 and stats.json()["calls"] == 0
    bad = await client.get("/v1/tools/stats?range=forever", headers=auth("root", admin=True))
    assert bad.status_code == 400


async def test_routing_decision_checks_the_tool_through_the_tools_module(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alice, admin = auth("alice"), auth("root", admin=True)
    session = await client.post("/v1/sessions", json={}, headers=alice)
    messages = []
    for _ in range(2):
        message = await client.post(
            f"/v1/sessions/{session.json()['id']}/messages",
            json={"role": "user", "content": "what is 2+2?"},
            headers=alice,
        )
        messages.append(message.json()["id"])
    unknown = await client.post(
        f"/v1/messages/{messages[0]}/routing-decision",
        json={"intent": "math", "confidence": 0.9, "tool_name": "math.solve"},
        headers=alice,
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "UnknownTool")
    await client.post("/v1/tools", json={**SLEEPER, "name": "math.solve"}, headers=admin)
    stored = await client.post(
        f"/v1/messages/{messages[0]}/routing-decision",
        json={"intent": "math", "confidence": 0.9, "tool_name": "math.solve", "tool_version": 1},
        headers=alice,
    )
    assert stored.status_code == 201
    await client.delete("/v1/tools/math.solve", headers=admin)
    read = await client.get(f"/v1/messages/{messages[0]}/routing-decision", headers=alice)
    assert (read.status_code, read.json()["tool_name"]) == (200, "math.solve")
    after = await client.post(
        f"/v1/messages/{messages[1]}/routing-decision",
        json={"intent": "math", "confidence": 0.9, "tool_name": "math.solve"},
        headers=alice,
    )
    assert after.status_code == 422
