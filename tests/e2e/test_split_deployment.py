"""Five real processes against one: the same workload, the same end state.

The split is the issue's example: an edge (conversation, billing, the saga store and the
whole public API), then rag, tools, memory and analytics each in its own process. Every
service provisions and migrates only its own modules with `bulkhead db provision` and
`bulkhead db upgrade` (its own PostgreSQL database and role; the URLs file in its own data
directory holds no other module's credentials), signs its calls with its own key, and the
bus and working memory are Redis. The single process runs every module on PostgreSQL too.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from app.deploy.layout import DEFAULT_LAYOUT, Layout
from app.kernel import provision
from app.kernel.auth import create_token
from app.kernel.rpc.service_tokens import create_key_pair
from app.main import DATABASES
from tests.conftest import POSTGRES_ADMIN_URL, VECTOR_MODULES, run_in_own_loop

from .test_server import bulkhead, free_port, start_server
from .workload import LEAVER, USERS, run_workload

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
SECRET = "split-test-" + "s" * 40
SINGLE = Layout.parse(["all=" + ",".join(sorted(d.name for d in DATABASES))])
SPLIT = Layout.parse(DEFAULT_LAYOUT)  # what `bulkhead deploy` lays out by default


@contextmanager
def deployment(
    layout: Layout, tmp: Path, admin_urls: dict[str, str], redis: dict[str, str]
) -> Iterator[str]:
    """Every service of `layout` provisioned, migrated and serving; yields the URL of the
    edge. Databases and roles are dropped afterwards."""
    ports = {service.name: free_port() for service in layout.services}
    split = len(layout.services) > 1
    envs = {}
    for service in layout.services:
        env = {
            "PATH": os.environ["PATH"],
            "BULKHEAD_DATA_DIR": str(tmp / service.name),
            "BULKHEAD_JWT_SECRET": SECRET,
            "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
            "BULKHEAD_REDIS_URL": redis["url"],  # working memory
            "BULKHEAD_REDIS_KEY_PREFIX": redis["prefix"],
            "BULKHEAD_LOG_LEVEL": "WARNING",
        }
        if split:  # the same environment a cluster's pods get, from the same place
            create_key_pair(tmp / "keys", service.name, service.key_modules)
            env |= layout.environment(service, lambda s: f"http://127.0.0.1:{ports[s.name]}")
            env |= {"BULKHEAD_KEYS_DIR": str(tmp / "keys"), "BULKHEAD_BUS_URL": redis["url"]}
        envs[service.name] = env
    prefix = f"bhsplit_{secrets.token_hex(3)}"
    with ThreadPoolExecutor(len(layout.services)) as pool, ExitStack() as running:
        running.callback(_drop_databases, admin_urls, prefix)
        list(
            pool.map(
                lambda s: _provision(envs[s.name], s.modules, admin_urls, prefix), layout.services
            )
        )
        for service in layout.services:  # each holds its own credentials, no others
            urls = json.loads((tmp / service.name / "database-urls.json").read_text())
            assert sorted(urls) == sorted(service.modules), (service, sorted(urls))
        servers = [start_server(envs[s.name], 1, ports[s.name]) for s in layout.services]
        for server in servers:
            running.callback(server.close)
        list(pool.map(next, servers))
        yield f"http://127.0.0.1:{ports[layout.edge.name]}"


def _provision(
    env: dict[str, str], modules: tuple[str, ...], admin_urls: dict[str, str], prefix: str
) -> None:
    """As an operator of this service would: `bulkhead db provision` (its own modules; a
    module needing pgvector on the server that has it), then `bulkhead db upgrade`."""
    for server in ("plain", "pgvector"):
        chosen = [m for m in modules if (m in VECTOR_MODULES) == (server == "pgvector")]
        if chosen:
            named = [arg for m in chosen for arg in ("--module", m)]
            bulkhead(env, "db", "provision", "--admin-url", admin_urls[server], "--prefix", prefix, *named)  # fmt: skip
    bulkhead(env, "db", "upgrade")


def _drop_databases(admin_urls: dict[str, str], prefix: str) -> None:
    every = sorted(d.name for d in DATABASES)
    for admin_url in admin_urls.values():
        run_in_own_loop(provision.drop(admin_url, every, prefix=prefix))


def _token(user: str, admin: bool) -> str:
    return create_token(SECRET, user, admin=admin, ttl=timedelta(minutes=30))


@pytest.fixture
def admin_urls(pgvector_admin_url: str) -> dict[str, str]:
    from tests.conftest import postgres_unavailable_reason

    if reason := postgres_unavailable_reason():
        pytest.skip(reason)
    return {"plain": POSTGRES_ADMIN_URL, "pgvector": pgvector_admin_url}


def test_five_processes_end_where_one_process_ends(
    tmp_path: Path, admin_urls: dict[str, str], redis_url: str, redis_prefix: str
) -> None:
    states: dict[str, Any] = {}
    for name, layout in (("single", SINGLE), ("split", SPLIT)):
        redis = {"url": redis_url, "prefix": f"{redis_prefix}:{name}"}
        with deployment(layout, tmp_path / name, admin_urls, redis) as edge:
            states[name] = run_workload(edge, _token)
            states[name]["mcp"] = asyncio.run(_over_mcp(edge, _token("mia", admin=False)))
    single, split = states["single"], states["split"]
    assert split == single, json.dumps({"single": single, "split": split}, indent=1)
    # And that end state is the right one, wherever the modules ran.
    before = single["analytics before the deletion"]
    assert before["analytics"] == before["owners"], before
    assert single["deletion"]["complete"], single["deletion"]
    assert set(single["deletion"]["modules"].values()) == {"applied"}, single["deletion"]
    for user in USERS:
        state = single["users"][user]
        sessions = len(state["sessions"])
        assert sessions == state["usage"]["active_sessions"], (user, state)
        assert sessions == state["sessions with working memory"], (user, state)
    left = single["users"][LEAVER]
    assert (left["sessions"], left["memories"]) == ([], []), left
    assert single["users"]["ana"]["sessions"] == ["ana 0"]
    assert single["users"]["ana"]["context parts"] == {
        "messages": (True, 3),
        "working_memory": (True, 4),  # the fact and three turns
        "memories": (True, 2),
    }
    assert all(single["dashboard parts"].values()), single["dashboard parts"]
    assert single["mcp"] == {
        "tools listed": True,
        "6 * 7": {"value": 42},
        "recalled": ["Mia takes her coffee black"],
        "resources": 0,
    }


async def _over_mcp(edge: str, token: str) -> dict[str, Any]:
    """An agent on the edge over MCP: with the split layout, every call it makes lands in
    another process (tools, memory), through the same contracts as in one process."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    transport = streamable_http_client(f"{edge}/mcp", http_client=http)
    async with http, Client(transport) as agent:
        names = {t.name for t in (await agent.list_tools()).tools}
        evaluated = await agent.call_tool("math.evaluate", {"expression": "6 * 7"})
        fact = {"content": "Mia takes her coffee black", "category": "preference"}
        await agent.call_tool("memory-remember", fact)
        recalled = await agent.call_tool("memory-recall", {"query": "coffee"})
        resources = await agent.list_resources()
    return {
        "tools listed": {"math.evaluate", "memory-recall", "knowledge-search"} <= names,
        "6 * 7": evaluated.structured_content,
        "recalled": [i["entry"]["content"] for i in recalled.structured_content["items"]],
        "resources": len(resources.resources),
    }
