"""The memory module over HTTP: statuses, bad input, isolation, and Redis down."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import create_app
from app.sagas.settings import SagaSettings

Auth = Callable[..., dict[str, str]]


async def test_memory_round_trip(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    alice = auth("alice")
    created = await client.post(
        "/v1/memories",
        json={"content": "Vegetarian since 2019", "category": "preference"},
        headers=alice,
    )
    assert created.status_code == 201
    merged = await client.post(
        "/v1/memories", json={"content": "vegetarian since 2019"}, headers=alice
    )
    assert merged.status_code == 200 and merged.json()["id"] == created.json()["id"]
    memory_id = created.json()["id"]
    updated = await client.patch(
        f"/v1/memories/{memory_id}", json={"content": "Vegan since 2023"}, headers=alice
    )
    assert updated.status_code == 200
    history = await client.get(f"/v1/memories/{memory_id}/history", headers=alice)
    assert [v["content"] for v in history.json()] == ["Vegetarian since 2019", "Vegan since 2023"]
    found = await client.post(
        "/v1/memories/search", json={"query": "vegan diet", "limit": 5}, headers=alice
    )
    assert found.status_code == 200
    [hit] = found.json()["items"]
    assert set(hit["factors"]) == {
        "semantic",
        "lexical",
        "relevance",
        "importance",
        "recency",
        "score",
    }
    listed = await client.get("/v1/memories?category=preference", headers=alice)
    assert [m["content"] for m in listed.json()["items"]] == ["Vegan since 2023"]
    assert (await client.delete(f"/v1/memories/{memory_id}", headers=alice)).status_code == 204
    assert (await client.get(f"/v1/memories/{memory_id}", headers=alice)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        # 400: the body does not fit the DTO; 422: the service refuses it.
        ({"content": "x", "importance": 1.5}, "importance", 400),
        ({"content": ""}, "content", 400),
        ({"content": "x", "category": "gossip"}, "category", 400),
        ({"content": "a\u0000b"}, "content", 422),  # PostgreSQL text cannot hold NUL
    ],
)
async def test_bad_memory_is_4xx_naming_the_field(
    client: AsyncTestClient[Litestar],
    auth: Auth,
    body: dict[str, Any],
    field: str,
    status: int,
) -> None:
    response = await client.post("/v1/memories", json=body, headers=auth("alice"))
    assert response.status_code == status and field in response.text, response.text
    assert (await client.get("/v1/memories", headers=auth("alice"))).json()["items"] == []


async def test_unknown_category_filter_is_a_4xx(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    listed = await client.get("/v1/memories?category=gossip", headers=auth("alice"))
    searched = await client.post(
        "/v1/memories/search",
        json={"query": "x", "filters": {"categories": ["gossip"]}},
        headers=auth("alice"),
    )
    assert listed.status_code == 400 and searched.status_code == 400


async def test_relationship_to_another_users_memory_is_404(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    mine = await client.post("/v1/memories", json={"content": "mine"}, headers=auth("alice"))
    theirs = await client.post("/v1/memories", json={"content": "theirs"}, headers=auth("bob"))
    response = await client.post(
        f"/v1/memories/{mine.json()['id']}/relationships",
        json={"target_id": theirs.json()["id"]},
        headers=auth("alice"),
    )
    assert response.status_code == 404
    to_self = await client.post(
        f"/v1/memories/{mine.json()['id']}/relationships",
        json={"target_id": mine.json()["id"]},
        headers=auth("alice"),
    )
    assert (to_self.status_code, to_self.json()["code"]) == (422, "InvalidRelationship")


async def test_working_memory_of_a_session_is_its_owners_only(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    session = await client.post("/v1/sessions", json={}, headers=auth("alice"))
    path = f"/v1/sessions/{session.json()['id']}/working-memory"
    turn = {"kind": "turn", "role": "user", "content": "hello"}
    assert (await client.post(path, json=turn, headers=auth("alice"))).status_code == 201
    read = await client.get(path, headers=auth("alice"))
    assert [i["content"] for i in read.json()["items"]] == ["hello"]
    assert (await client.get(path, headers=auth("bob"))).status_code == 404
    assert (await client.post(path, json=turn, headers=auth("bob"))).status_code == 404
    unknown = f"/v1/sessions/{uuid.uuid4()}/working-memory"
    assert (await client.post(unknown, json=turn, headers=auth("alice"))).status_code == 404


async def test_memory_stats_are_admin_only(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    await client.post("/v1/memories", json={"content": "x", "category": "goal"}, headers=auth("a"))
    assert (await client.get("/v1/memory/stats", headers=auth("alice"))).status_code == 403
    stats = await client.get("/v1/memory/stats?range=1h", headers=auth("root", admin=True))
    assert stats.status_code == 200
    assert (stats.json()["entries"], stats.json()["per_category"]) == (1, {"goal": 1})


async def test_redis_down_answers_503_for_working_memory_only(
    settings: Settings, auth: Auth
) -> None:
    settings = replace(settings, redis_url="redis://127.0.0.1:1/0").with_values(
        SagaSettings, backoff_s=0.01
    )
    async with AsyncTestClient(create_app(settings)) as client:
        health = await client.get("/v1/admin/health", headers=auth("root", admin=True))
        # A new session needs its working memory: the saga retries, then undoes it all.
        session = await client.post("/v1/sessions", json={}, headers=auth("alice"))
        left = await client.get("/v1/sessions", headers=auth("alice"))
        long_term = await client.post("/v1/memories", json={"content": "x"}, headers=auth("alice"))
    assert (health.status_code, health.json()["status"]) == (200, "degraded")
    assert "Redis at 127.0.0.1:1/0" in health.json()["components"]["memory.working_memory"]["error"]
    assert (session.status_code, session.json()["code"]) == (503, "SessionNotCreated")
    assert "WorkingMemoryUnavailable" in session.json()["detail"]
    assert left.json()["items"] == []
    assert long_term.status_code == 201


async def test_a_memory_cannot_name_another_users_session_as_its_source(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alices = (await client.post("/v1/sessions", json={}, headers=auth("alice"))).json()
    bobs = (await client.post("/v1/sessions", json={}, headers=auth("bob"))).json()
    borrowed = {"content": "from alice's chat", "source_session_id": alices["id"]}
    refused = await client.post("/v1/memories", json=borrowed, headers=auth("bob"))
    assert refused.status_code == 422 and refused.json()["field"] == "source_session_id"
    unknown = {"content": "x", "source_session_id": str(uuid.uuid4())}
    assert (await client.post("/v1/memories", json=unknown, headers=auth("bob"))).status_code == 422
    own = {"content": "from my chat", "source_session_id": bobs["id"]}
    assert (await client.post("/v1/memories", json=own, headers=auth("bob"))).status_code == 201
