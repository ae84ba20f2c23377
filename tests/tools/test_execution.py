"""ToolsAPI.execute: every check before the sandbox, and the audit row each call leaves;
in-process and over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.kernel.settings import Settings
from app.modules.tools.service import ToolsService
from app.modules.tools.settings import ToolsSettings
from contracts.errors import ContractError
from contracts.tools import (
    Caller,
    ClientPolicyUpdate,
    InvalidParams,
    RateLimit,
    SandboxUnavailable,
    ToolDisabled,
    ToolNotAllowed,
    ToolNotFound,
    ToolRateLimited,
    ToolsAPI,
    ToolVersionCreate,
)
from tests.over_the_wire import MODES

from .conftest import ALICE, Clock, raw_tool, tools_contract

ECHO = "import json, sys\nprint(json.dumps({'version': VERSION, 'got': json.load(sys.stdin)}))"


@pytest.fixture(params=MODES)
async def tools(
    request: pytest.FixtureRequest, tools_settings: Settings, clock: Clock
) -> AsyncIterator[ToolsAPI]:
    """The contract suite runs twice: the service itself, and the same through its HTTP
    client against a real server of it."""
    async with tools_contract(request.param, tools_settings, clock) as api:
        yield api


async def test_the_registry_answers_by_name_and_version(tools: ToolsAPI) -> None:
    await tools.register(tool=raw_tool("echo.kept", ECHO.replace("VERSION", "1")))
    await tools.add_version(name="echo.kept", version=ToolVersionCreate(description="second"))
    assert await tools.exists(name="echo.kept") and await tools.exists(name="echo.kept", version=2)
    assert not await tools.exists(name="echo.kept", version=3)
    assert (await tools.get(name="echo.kept")).version == 2
    assert (await tools.get(name="echo.kept", version=1)).description == ""
    assert [t.version for t in (await tools.list_versions(name="echo.kept")).items] == [1, 2]
    await tools.set_enabled(name="echo.kept", enabled=False, version=2)
    assert (await tools.get(name="echo.kept")).version == 1  # the latest enabled one
    await tools.delete(name="echo.kept")
    assert not await tools.exists(name="echo.kept")
    for call in (tools.get(name="echo.kept"), tools.list_versions(name="echo.kept")):
        with pytest.raises(ToolNotFound):
            await call


async def audit(tools: ToolsAPI, error: ContractError) -> tuple[str, str | None]:
    """The status and reason of the row a refused call left."""
    row = await tools.list_executions()
    assert str(row.items[0].id) == error.details["execution_id"]
    return row.items[0].status, row.items[0].reason


async def test_math_evaluate_and_text_stats_answer(sandboxed: ToolsAPI) -> None:
    value = await sandboxed.execute(
        name="math.evaluate", params={"expression": "2 ** 10 + sqrt(16)"}, caller=ALICE
    )
    assert (value.status, value.result) == ("succeeded", {"value": 1028.0})
    refused = await sandboxed.execute(
        name="math.evaluate", params={"expression": "__import__('os').system('id')"}, caller=ALICE
    )
    assert refused.status == "failed" and "not allowed in an expression" in (refused.reason or "")
    stats = await sandboxed.execute(
        name="text.stats", params={"text": "One fish. Two fish!\nRed fish?", "top": 1}, caller=ALICE
    )
    assert stats.result["words"] == 6 and stats.result["sentences"] == 3
    assert stats.result["top_words"] == [{"word": "fish", "count": 3}]


async def test_schema_invalid_params_are_refused_naming_the_path(tools: ToolsAPI) -> None:
    with pytest.raises(InvalidParams) as refused:
        await tools.execute(name="text.stats", params={"text": "x", "top": 0}, caller=ALICE)
    assert refused.value.field == "params.top"
    assert "0 is less than the minimum of 1" in refused.value.message
    assert await audit(tools, refused.value) == ("invalid_params", refused.value.message)


async def test_unknown_tool_is_not_found_and_recorded(tools: ToolsAPI) -> None:
    with pytest.raises(ToolNotFound) as refused:
        await tools.execute(name="web.search", params={}, caller=ALICE)
    assert await audit(tools, refused.value) == ("refused", "no tool 'web.search'")


async def test_disabled_tool_is_refused_and_recorded(tools: ToolsAPI) -> None:
    await tools.set_enabled(name="text.stats", enabled=False)
    with pytest.raises(ToolDisabled) as refused:
        await tools.execute(name="text.stats", params={"text": "x"}, caller=ALICE)
    assert await audit(tools, refused.value) == (
        "refused",
        "tool 'text.stats' version 1 is disabled",
    )
    assert "text.stats" not in {t.name for t in (await tools.list_tools()).items}


async def test_client_outside_its_allow_list_is_refused_and_nothing_runs(
    tools: ToolsAPI,
) -> None:
    await tools.set_policy(client_id="agent-a", policy=ClientPolicyUpdate(allowed_tools=["math.*"]))
    with pytest.raises(ToolNotAllowed) as refused:
        # Valid params: the refusal is the policy's, before anything else.
        await tools.execute(name="text.stats", params={"text": "x"}, caller=ALICE)
    assert refused.value.details["rule"] == "allow_list"
    status, reason = await audit(tools, refused.value)
    assert (status, reason) == ("refused", "client 'agent-a' may not run 'text.stats'")
    logged = await tools.get_execution(
        execution_id=(await tools.list_executions()).items[0].id, user_id="alice"
    )
    assert logged.duration_ms is None and logged.stdout is None  # never ran


async def test_allow_list_from_settings_applies_to_listed_and_other_clients(
    tools_settings: Settings, clock: Clock
) -> None:
    from app.kernel.database import open_module_database

    settings = tools_settings.with_values(
        ToolsSettings, allowlist={"agent-a": ("text.stats",), "*": ("math.evaluate",)}
    )
    database = open_module_database("tools", settings)
    try:
        service = ToolsService(database, settings, clock=clock)
        with pytest.raises(ToolNotAllowed):
            await service.execute(name="math.evaluate", params={"expression": "1"}, caller=ALICE)
        other = Caller(user_id="alice", client_id="agent-b")
        with pytest.raises(ToolNotAllowed):
            await service.execute(name="text.stats", params={"text": "x"}, caller=other)
        # An admin-set list replaces the settings' one for that client.
        await service.set_policy(
            client_id="agent-b", policy=ClientPolicyUpdate(allowed_tools=["text.*"])
        )
        policies = {p.client_id: p for p in await service.list_policies()}
        assert policies["agent-b"].source == "admin"
        assert policies["agent-a"].allowed_tools == ["text.stats"]
        await service.delete_policy(client_id="agent-b")
        assert "agent-b" not in {p.client_id for p in await service.list_policies()}
    finally:
        await database.dispose()


async def test_rate_limit_refuses_with_retry_after_then_the_window_slides(
    sandboxed: ToolsAPI, clock: Clock
) -> None:
    await sandboxed.register(
        tool=raw_tool(
            "echo.limited",
            ECHO.replace("VERSION", "1"),
            rate_limit=RateLimit(calls=2, window_s=60),
        )
    )
    for _ in range(2):
        run = await sandboxed.execute(name="echo.limited", params={}, caller=ALICE)
        assert run.status == "succeeded"
    with pytest.raises(ToolRateLimited) as limited:
        await sandboxed.execute(name="echo.limited", params={}, caller=ALICE)
    # Both calls were 30 s into a 60 s window. The sliding estimate (previous window's
    # calls weighted by their overlap, plus this window's) drops to 1 at 30 s into the next.
    assert limited.value.retry_after_s == pytest.approx(60)
    assert (await audit(sandboxed, limited.value))[0] == "rate_limited"
    # Another client has its own window.
    other = Caller(user_id="bob", client_id="agent-b")
    assert (await sandboxed.execute(name="echo.limited", params={}, caller=other)).status == (
        "succeeded"
    )
    clock.advance(30)  # the next window has begun, but both calls still count in full
    with pytest.raises(ToolRateLimited):
        await sandboxed.execute(name="echo.limited", params={}, caller=ALICE)
    clock.advance(30)
    assert (await sandboxed.execute(name="echo.limited", params={}, caller=ALICE)).status == (
        "succeeded"
    )


async def test_concurrent_calls_past_the_limit_are_refused_exactly(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(
        tool=raw_tool("echo.burst", "print(1)", rate_limit=RateLimit(calls=3, window_s=3600))
    )
    outcomes = await asyncio.gather(
        *(sandboxed.execute(name="echo.burst", params={}, caller=ALICE) for _ in range(8)),
        return_exceptions=True,
    )
    ran = [o for o in outcomes if not isinstance(o, BaseException)]
    limited = [o for o in outcomes if isinstance(o, ToolRateLimited)]
    assert (len(ran), len(limited)) == (3, 5)


async def test_version_pinning_runs_the_pinned_version(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(tool=raw_tool("echo.versioned", ECHO.replace("VERSION", "1")))
    second = await sandboxed.add_version(
        name="echo.versioned", version=ToolVersionCreate(source=ECHO.replace("VERSION", "2"))
    )
    assert second.version == 2 and second.schema == {"type": "object"}  # the rest is copied
    latest = await sandboxed.execute(name="echo.versioned", params={"a": 1}, caller=ALICE)
    pinned = await sandboxed.execute(name="echo.versioned", params={}, caller=ALICE, version=1)
    assert latest.result == {"version": 2, "got": {"a": 1}} and latest.tool_version == 2
    assert pinned.result["version"] == 1 and pinned.tool_version == 1
    # Disabling the latest makes the previous one the default; a pinned disabled one refuses.
    await sandboxed.set_enabled(name="echo.versioned", enabled=False, version=2)
    fallback = await sandboxed.execute(name="echo.versioned", params={}, caller=ALICE)
    assert fallback.result["version"] == 1
    with pytest.raises(ToolDisabled):
        await sandboxed.execute(name="echo.versioned", params={}, caller=ALICE, version=2)
    with pytest.raises(ToolNotFound):
        await sandboxed.execute(name="echo.versioned", params={}, caller=ALICE, version=9)


async def test_result_outside_the_output_schema_is_invalid_output(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(
        tool=raw_tool(
            "echo.typed",
            'print(\'{"value": "not a number"}\')',
            output_schema={"type": "object", "properties": {"value": {"type": "number"}}},
        )
    )
    run = await sandboxed.execute(name="echo.typed", params={}, caller=ALICE)
    assert run.status == "invalid_output" and run.result is None
    assert run.reason == (
        "the result does not fit output_schema at result.value: 'not a number' is not of type 'number'"
    )


async def test_stdout_that_is_not_json_is_invalid_output(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(tool=raw_tool("echo.prose", "print('hello')"))
    run = await sandboxed.execute(name="echo.prose", params={}, caller=ALICE)
    assert run.status == "invalid_output"
    assert run.stdout is not None and run.stdout.text == "hello\n" and not run.stdout.truncated


async def test_failing_tool_is_recorded_with_its_exit_code_and_stderr(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(tool=raw_tool("echo.broken", "import sys\nsys.exit('no luck')"))
    run = await sandboxed.execute(name="echo.broken", params={}, caller=ALICE)
    assert (run.status, run.exit_code, run.reason) == ("failed", 1, "exit code 1: no luck")
    assert run.stderr is not None and run.stderr.text == "no luck\n"
    assert run.resources is not None and run.resources.cpu_ms >= 0


async def test_without_a_sandbox_calls_answer_unavailable_and_nothing_runs(
    tools_settings: Settings, clock: Clock
) -> None:
    from app.kernel.database import open_module_database

    settings = tools_settings.with_values(ToolsSettings, sandbox_bwrap="/nonexistent/bwrap")
    database = open_module_database("tools", settings)
    try:
        service = ToolsService(database, settings, clock=clock)
        health = await service.component_health()
        assert health["sandbox"].ok is False
        assert "install bubblewrap" in (health["sandbox"].error or "")
        with pytest.raises(SandboxUnavailable) as refused:
            await service.execute(name="math.evaluate", params={"expression": "1"}, caller=ALICE)
        assert "install bubblewrap" in refused.value.message
        assert (await audit(service, refused.value))[0] == "unavailable"
    finally:
        await database.dispose()


async def test_stats_count_outcomes_and_durations(sandboxed: ToolsAPI) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    for expression in ("1+1", "2*3", "1/0"):
        await sandboxed.execute(
            name="math.evaluate", params={"expression": expression}, caller=ALICE
        )
    with pytest.raises(InvalidParams):
        await sandboxed.execute(name="math.evaluate", params={}, caller=ALICE)
    await sandboxed.set_policy(client_id="agent-a", policy=ClientPolicyUpdate(allowed_tools=[]))
    with pytest.raises(ToolNotAllowed):
        await sandboxed.execute(name="math.evaluate", params={"expression": "1"}, caller=ALICE)
    stats = await sandboxed.stats(since=since, until=datetime.now(UTC) + timedelta(seconds=1))
    assert (stats.calls, stats.runs, stats.refused, stats.rate_limited) == (5, 3, 1, 0)
    assert stats.by_status == {"failed": 1, "invalid_params": 1, "refused": 1, "succeeded": 2}
    assert stats.success_rate == pytest.approx(2 / 3, abs=1e-3)
    assert stats.p50_duration_ms is not None and stats.p95_duration_ms is not None
    assert stats.p50_duration_ms <= stats.p95_duration_ms
    assert [t.tool_name for t in stats.per_tool] == ["math.evaluate"]


async def test_nul_bytes_in_output_are_recorded_on_every_backend(sandboxed: ToolsAPI) -> None:
    source = "import sys\nsys.stdout.write('\\x00out')\nsys.exit('bad\\x00line')"
    await sandboxed.register(tool=raw_tool("echo.nul", source))
    run = await sandboxed.execute(name="echo.nul", params={"x": "\x00"}, caller=ALICE)
    assert run.status == "failed" and run.reason == "exit code 1: bad\ufffdline"
    assert run.stdout is not None and run.stdout.text == "\ufffdout" and run.stdout.size == 4
    logged = await sandboxed.get_execution(execution_id=run.id, user_id="alice")
    assert logged.params == {"x": "\x00"}
