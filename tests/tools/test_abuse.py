"""One user reaching past another through the tools, or the server through a tool's output
or an admin's schema: each attack run for real against the service, its database and the
sandbox."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.kernel.settings import Settings
from app.modules.tools.json_schemas import check_params
from app.modules.tools.settings import ToolsSettings
from contracts.tools import (
    Caller,
    InvalidParams,
    InvalidToolDefinition,
    RateLimit,
    ToolCreate,
    ToolNotFound,
    ToolRateLimited,
    ToolsAPI,
)

from .conftest import ALICE, raw_tool

BOB = Caller(user_id="bob", client_id=ALICE.client_id)  # the same agent, another user
SLEEPER = "import json, sys, time\ntime.sleep(json.load(sys.stdin)['s'])\nprint(1)"


@pytest.fixture
def tools_settings(settings: Settings) -> Settings:
    return settings.with_values(
        ToolsSettings,
        max_concurrent=4,
        max_concurrent_per_user=2,
        rate_limit=(3, 60),
        max_params_bytes=64 * 1024,
    )


async def test_one_users_calls_do_not_use_up_anothers_limit(sandboxed: ToolsAPI) -> None:
    limited = raw_tool("echo.three", "print(1)", rate_limit=RateLimit(calls=3, window_s=60))
    await sandboxed.register(tool=limited)
    for _ in range(3):
        assert (await sandboxed.execute(name="echo.three", params={}, caller=ALICE)).status == (
            "succeeded"
        )
    with pytest.raises(ToolRateLimited):
        await sandboxed.execute(name="echo.three", params={}, caller=ALICE)
    run = await sandboxed.execute(name="echo.three", params={}, caller=BOB)
    assert run.status == "succeeded"


async def test_one_user_cannot_hold_every_sandbox_slot(sandboxed: ToolsAPI) -> None:
    plenty = RateLimit(calls=100, window_s=60)
    await sandboxed.register(tool=raw_tool("sleep.for", SLEEPER, timeout_s=30, rate_limit=plenty))
    finished: list[str] = []

    async def call(who: Caller, seconds: float) -> None:
        run = await sandboxed.execute(name="sleep.for", params={"s": seconds}, caller=who)
        assert run.status == "succeeded", run.reason
        finished.append(who.user_id)

    # Six long calls of alice's, then one short call of bob's: with one pool of four
    # slots bob would wait for alice's first four to end; with a share of two per user he
    # takes a free slot at once.
    alice_calls = [asyncio.create_task(call(ALICE, 2.0)) for _ in range(6)]
    await asyncio.sleep(0.3)
    await call(BOB, 0.0)
    await asyncio.gather(*alice_calls)
    assert finished[0] == "bob"


async def test_params_past_the_cap_are_refused_and_not_stored_whole(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(tool=raw_tool("echo.params", "print(1)"))
    with pytest.raises(InvalidParams) as refused:
        await sandboxed.execute(name="echo.params", params={"x": "y" * 100_000}, caller=ALICE)
    assert "limit is 65536" in refused.value.message
    row = await sandboxed.get_execution(
        execution_id=uuid.UUID(str(refused.value.details["execution_id"])), user_id="alice"
    )
    assert row.status == "invalid_params"
    assert set(row.params) == {"omitted"} and row.params["omitted"]["bytes"] > 100_000


async def test_a_refused_call_is_stored_in_a_bounded_form(tools: ToolsAPI) -> None:
    with pytest.raises(ToolNotFound) as refused:
        await tools.execute(name="no.such.tool", params={"x": "y" * 60_000}, caller=ALICE)
    row = await tools.get_execution(
        execution_id=uuid.UUID(str(refused.value.details["execution_id"])), user_id="alice"
    )
    assert row.params == {"omitted": {"bytes": 60_008, "sha256": row.params["omitted"]["sha256"]}}
    # Small params of a refusal stay whole: they say what was asked.
    with pytest.raises(ToolNotFound) as small:
        await tools.execute(name="no.such.tool", params={"x": 1}, caller=ALICE)
    kept = await tools.get_execution(
        execution_id=uuid.UUID(str(small.value.details["execution_id"])), user_id="alice"
    )
    assert kept.params == {"x": 1}


async def test_refusals_count_against_the_callers_limit(tools: ToolsAPI) -> None:
    for _ in range(3):
        with pytest.raises(ToolNotFound):
            await tools.execute(name=f"no.such.{uuid.uuid4().hex[:6]}", params={}, caller=ALICE)
    with pytest.raises(ToolRateLimited) as throttled:
        await tools.execute(name="no.such.other", params={}, caller=ALICE)
    assert "too many refused calls" in throttled.value.message
    assert throttled.value.retry_after_s is not None and throttled.value.retry_after_s > 0
    with pytest.raises(ToolNotFound):  # bob's budget is his own
        await tools.execute(name="no.such.tool", params={}, caller=BOB)


async def test_a_tool_printing_5000_deep_json_ends_in_one_audit_row(sandboxed: ToolsAPI) -> None:
    await sandboxed.register(
        tool=raw_tool("deep.output", "import sys\nsys.stdout.write('[' * 5000 + ']' * 5000)")
    )
    before = len((await sandboxed.replay_events()).items)
    run = await sandboxed.execute(name="deep.output", params={}, caller=ALICE)
    assert run.status == "invalid_output"
    assert "5000 levels" in (run.reason or "")
    logged = await sandboxed.get_execution(execution_id=run.id, user_id="alice")
    assert logged.status == "invalid_output"
    events = (await sandboxed.replay_events()).items
    assert len(events) == before + 1 and events[-1].type == "ToolExecuted"


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "http://127.0.0.1:9/schema.json"},
        {"type": "object", "properties": {"x": {"$ref": "https://example.com/s#/x"}}},
        {"$defs": {"a": {"$dynamicRef": "file:///etc/passwd"}}},
        {"$ref": "#/$defs/missing"},
    ],
)
async def test_a_schema_reaching_outside_itself_is_refused(
    tools: ToolsAPI, schema: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToolDefinition) as refused:
        await tools.register(tool=ToolCreate(name="ref.tool", source="print(1)", schema=schema))
    assert refused.value.field == "schema"


async def test_a_local_reference_still_works(sandboxed: ToolsAPI) -> None:
    schema = {
        "type": "object",
        "$defs": {"n": {"type": "integer"}},
        "properties": {"n": {"$ref": "#/$defs/n"}},
    }
    await sandboxed.register(tool=ToolCreate(name="ref.local", source="print(1)", schema=schema))
    with pytest.raises(InvalidParams, match=r"params\.n"):
        await sandboxed.execute(name="ref.local", params={"n": "x"}, caller=ALICE)


async def test_a_backtracking_pattern_is_refused_at_registration(tools: ToolsAPI) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": r"(a)\1"}}}
    with pytest.raises(InvalidToolDefinition, match="backtracking"):
        await tools.register(tool=ToolCreate(name="re.back", source="print(1)", schema=schema))


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}},
        {"type": "object", "patternProperties": {"^(a+)+$": {}}, "additionalProperties": False},
    ],
)
async def test_a_catastrophic_pattern_is_checked_in_linear_time(schema: dict[str, Any]) -> None:
    evil = "a" * 64 + "b"
    params = {"s": evil} if "properties" in schema else {evil: 1}
    # In a thread, so that a backtracking engine fails the test instead of hanging it.
    checking = asyncio.to_thread(check_params, schema, params)
    with pytest.raises(InvalidParams):
        await asyncio.wait_for(checking, timeout=10)
