"""The MCP endpoint, driven by the official `mcp` client over real HTTP against a real
server: tools through the same policy, sandbox, limits and audit as REST; knowledge,
memory and session context; one user never sees another's."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from app.kernel.settings import Settings
from app.main import create_app
from app.mcp_server.server import build_server
from contracts.errors import Unavailable
from contracts.record import Contracts
from tests.conftest import FAST_MODEL, JWT_SECRET
from tests.over_the_wire import InThreadServer

Auth = Callable[..., dict[str, str]]
# "legacy": the initialize handshake every MCP client today speaks (2025-11-25 and before);
# "auto": this SDK's own choice, the stateless 2026-07-28 protocol where both ends have it.
PROTOCOLS = ["legacy", "auto"]


@pytest.fixture
def base_url(tmp_path: Path, migrated_sqlite: Path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "var", jwt_secret=JWT_SECRET, embedding_model=FAST_MODEL
    )
    shutil.copytree(migrated_sqlite, settings.data_dir)
    with InThreadServer(create_app(settings)) as base:
        yield base


@asynccontextmanager
async def connected(base_url: str, headers: dict[str, str], mode: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


def text_of(result: types.CallToolResult) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], types.TextContent)
    return result.content[0].text


def rest(base_url: str, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=f"{base_url}/v1", headers=headers, timeout=60)


@pytest.mark.parametrize("mode", PROTOCOLS)
async def test_a_registry_tool_runs_in_the_sandbox_and_is_audited(
    base_url: str, auth: Auth, mode: str
) -> None:
    async with connected(base_url, auth("alice", client="agent-a"), mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("math.evaluate", {"expression": "6 * 7"})

    math = listed["math.evaluate"]
    assert math.input_schema["required"] == ["expression"]
    assert math.annotations is not None and math.annotations.read_only_hint is True
    assert {"knowledge-search", "memory-recall", "memory-remember"} <= listed.keys()
    assert not result.is_error, text_of(result)
    assert result.structured_content == {"value": 42}
    with rest(base_url, auth("root", admin=True)) as admin:
        audit = admin.get("/tools/executions", params={"tool": "math.evaluate"}).json()
    (row,) = audit["items"]
    assert (row["user_id"], row["client_id"], row["status"]) == ("alice", "agent-a", "succeeded")
    assert result.meta is not None and result.meta["bulkhead/execution_id"] == row["id"]


async def test_refusals_are_tool_errors_that_say_why_and_are_audited(
    base_url: str, auth: Auth
) -> None:
    with rest(base_url, auth("root", admin=True)) as admin:
        policy = {"allowed_tools": ["text.*"]}
        assert admin.put("/tools/policies/agent-b", json=policy).status_code == 200
        once = {
            "name": "echo.once",
            "source": "import json, sys\nprint(json.dumps(json.load(sys.stdin)))",
            "schema": {"type": "object"},
            "rate_limit": {"calls": 1, "window_s": 3600},
        }
        assert admin.post("/tools", json=once).status_code == 201

    async with connected(base_url, auth("alice", client="agent-a"), "legacy") as client:
        invalid = await client.call_tool("math.evaluate", {"expr": "1"})
        first = await client.call_tool("echo.once", {"n": 1})
        limited = await client.call_tool("echo.once", {"n": 2})
        with pytest.raises(MCPError, match=r"no tool 'no\.such'"):
            await client.call_tool("no.such", {})
    async with connected(base_url, auth("alice", client="agent-b"), "legacy") as client:
        refused = await client.call_tool("math.evaluate", {"expression": "1"})

    assert invalid.is_error and text_of(invalid).startswith("InvalidParams:")
    assert not first.is_error and first.structured_content == {"n": 1}
    assert limited.is_error and text_of(limited).startswith("ToolRateLimited:")
    assert "retry after" in text_of(limited)
    assert refused.is_error and text_of(refused).startswith("ToolNotAllowed:")
    with rest(base_url, auth("root", admin=True)) as admin:
        audit = admin.get("/tools/executions").json()["items"]
    statuses = sorted(row["status"] for row in audit)
    assert statuses == ["invalid_params", "rate_limited", "refused", "refused", "succeeded"]


@pytest.mark.parametrize("mode", PROTOCOLS)
async def test_memories_stay_with_their_user(base_url: str, auth: Auth, mode: str) -> None:
    secret = {"content": "My locker code at the gym is 4711", "category": "fact"}
    query = {"query": "what is my locker code"}
    async with connected(base_url, auth("alice"), mode) as alice:
        remembered = await alice.call_tool("memory-remember", secret)
        alice_recall = await alice.call_tool("memory-recall", query)
        invalid = await alice.call_tool("memory-remember", {"content": "x", "category": "gossip"})
    async with connected(base_url, auth("bob"), mode) as bob:
        bob_recall = await bob.call_tool("memory-recall", query)

    assert not remembered.is_error, text_of(remembered)
    assert remembered.structured_content["entry"]["user_id"] == "alice"
    contents = [i["entry"]["content"] for i in alice_recall.structured_content["items"]]
    assert contents == [secret["content"]]
    assert bob_recall.structured_content["items"] == []
    assert invalid.is_error and "category" in text_of(invalid)


async def test_knowledge_search(base_url: str, auth: Auth) -> None:
    documents = [
        {"source": "kb/tea", "text": "Green tea is steeped at 80 degrees for two minutes."},
        {"source": "kb/bikes", "text": "Inflate road bike tyres to about six bar."},
    ]
    with rest(base_url, auth("root", admin=True)) as admin:
        assert admin.post("/documents/batch", json={"documents": documents}).status_code == 201
    async with connected(base_url, auth("alice"), "legacy") as client:
        found = await client.call_tool("knowledge-search", {"query": "tyre pressure", "k": 1})
        empty = await client.call_tool("knowledge-search", {"query": ""})

    assert [h["source"] for h in found.structured_content["hits"]] == ["kb/bikes"]
    assert empty.is_error and text_of(empty).startswith("InvalidParams:")


async def test_session_context_is_a_resource_of_its_user_only(base_url: str, auth: Auth) -> None:
    with rest(base_url, auth("alice")) as alice_rest:
        created = alice_rest.post("/sessions", json={"title": "Trip to Lisbon"})
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
    uri = f"bulkhead://sessions/{session_id}/context"

    async with connected(base_url, auth("alice"), "legacy") as alice:
        listed = await alice.list_resources()
        templates = await alice.list_resource_templates()
        read = await alice.read_resource(uri)
    async with connected(base_url, auth("bob"), "legacy") as bob:
        bobs = await bob.list_resources()
        with pytest.raises(MCPError, match="no session"):
            await bob.read_resource(uri)

    assert [str(r.uri) for r in listed.resources] == [uri]
    assert bobs.resources == []
    assert templates.resource_templates[0].uri_template.endswith("/{session_id}/context")
    (contents,) = read.contents
    assert isinstance(contents, types.TextResourceContents)
    context: dict[str, Any] = httpx.Response(200, content=contents.text).json()
    assert context["session"]["title"] == "Trip to Lisbon"
    assert set(context["parts"]) == {"messages", "working_memory", "memories"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Basic YWxpY2U6cHc="],
    ids=["no token", "forged token", "not bearer"],
)
def test_no_valid_token_is_refused_with_401(base_url: str, authorization: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if authorization:
        headers["Authorization"] = authorization
    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = httpx.post(f"{base_url}/mcp", json=ping, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("[" * 200_000 + "]" * 200_000, 400),  # nesting past any parser's stack
        (
            '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"math.evaluate",'
            '"arguments":' + '{"a":' * 5_000 + "1" + "}" * 5_000 + "}}",
            400,
        ),
        ("{not json", 400),
        ('{"a":"' + "x" * 5_000_000 + '"}', 413),  # past the transport's 4 MiB
    ],
    ids=["deep", "deep arguments", "malformed", "huge"],
)
def test_hostile_bodies_are_refused_and_the_server_stays_up(
    base_url: str, auth: Auth, body: str, status: int
) -> None:
    headers = {
        **auth("alice"),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    answer = httpx.post(f"{base_url}/mcp", content=body, headers=headers, timeout=60)
    assert answer.status_code == status
    assert "Traceback" not in answer.text
    assert httpx.get(f"{base_url}/health").status_code == 200


async def test_tools_list_goes_on_without_the_registry() -> None:
    """The tools module down (a remote that does not answer): the agent still gets the
    tools of the modules that work."""

    class DownTools:
        async def list_tools(self, **_: object) -> object:
            raise Unavailable("the tools module at http://tools:8000 did not answer")

    contracts = (
        Contracts.none_running()
        .with_service("tools", DownTools())
        .with_service("memory", object())  # running: its tools are listed
    )
    async with Client(build_server(contracts, 1.0)) as client:  # in-process
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"memory-recall", "memory-remember"}
