"""The conversation module over HTTP (Litestar's test client), on SQLite and PostgreSQL."""

import uuid
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Auth = Callable[..., dict[str, str]]


async def new_session(client: AsyncTestClient[Litestar], headers: dict[str, str]) -> str:
    response = await client.post("/v1/sessions", json={"title": "trip"}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_conversation_round_trip(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    alice = auth("alice")
    session_id = await new_session(client, alice)
    for content in ("Plan a trip to Lisbon", "Sure: when do you leave?"):
        response = await client.post(
            f"/v1/sessions/{session_id}/messages",
            json={"role": "user", "content": content},
            headers=alice,
        )
        assert response.status_code == 201
    message_id = response.json()["id"]
    decision = await client.post(
        f"/v1/messages/{message_id}/routing-decision",
        json={"intent": "travel", "confidence": 0.82, "tool_name": "math.evaluate"},
        headers=alice,
    )
    assert decision.status_code == 201
    listed = await client.get(f"/v1/sessions/{session_id}/messages", headers=alice)
    assert [m["seq"] for m in listed.json()["items"]] == [1, 2]
    closed = await client.post(f"/v1/sessions/{session_id}/close", headers=alice)
    assert closed.json()["status"] == "closed"


async def test_idempotency_key_header_makes_retried_create_return_the_same_session(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    headers = {**auth("alice"), "Idempotency-Key": "retry-1"}
    first = await client.post("/v1/sessions", json={}, headers=headers)
    second = await client.post("/v1/sessions", json={}, headers=headers)
    assert first.json()["id"] == second.json()["id"]


async def test_no_token_is_401(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/v1/sessions")).status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "Basic abc"],
)
async def test_bad_token_is_401(client: AsyncTestClient[Litestar], header: str) -> None:
    assert (await client.get("/v1/sessions", headers={"Authorization": header})).status_code == 401


async def test_token_signed_with_another_secret_is_401(client: AsyncTestClient[Litestar]) -> None:
    from datetime import timedelta

    from app.kernel.auth import create_token

    forged = create_token("another-secret-" + "y" * 40, "alice", ttl=timedelta(minutes=5))
    response = await client.get("/v1/sessions", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_other_users_session_is_404_like_a_missing_one(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    session_id = await new_session(client, auth("alice"))
    mallory = auth("mallory")
    theirs = await client.get(f"/v1/sessions/{session_id}", headers=mallory)
    missing = await client.get(f"/v1/sessions/{uuid.uuid4()}", headers=mallory)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "SessionNotFound"
    posted = await client.post(
        f"/v1/sessions/{session_id}/messages",
        json={"role": "user", "content": "hi"},
        headers=mallory,
    )
    assert posted.status_code == 404


async def test_stats_needs_the_admin_claim(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    assert (await client.get("/v1/conversation/stats", headers=auth("alice"))).status_code == 403
    response = await client.get("/v1/conversation/stats?range=7d", headers=auth("root", admin=True))
    assert response.status_code == 200
    assert set(response.json()) >= {"sessions_created", "messages", "tokens", "decisions_by_intent"}


@pytest.mark.parametrize("value", ["", "7", "7y", "-1h", "0h", "999999d"])
async def test_bad_stats_range_is_400(
    client: AsyncTestClient[Litestar], auth: Auth, value: str
) -> None:
    response = await client.get(
        f"/v1/conversation/stats?range={value}", headers=auth("root", admin=True)
    )
    assert response.status_code == 400
    assert response.json()["field"] == "range"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "robot", "content": "hi"}, "role"),
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user"}, "content"),
        ({"role": "user", "content": "hi", "extra": 1}, "extra"),
    ],
)
async def test_bad_message_is_400_naming_the_field_and_writes_nothing(
    client: AsyncTestClient[Litestar], auth: Auth, body: dict[str, object], field: str
) -> None:
    alice = auth("alice")
    session_id = await new_session(client, alice)
    response = await client.post(f"/v1/sessions/{session_id}/messages", json=body, headers=alice)
    assert response.status_code == 400
    assert field in response.text
    assert "Traceback" not in response.text
    session = await client.get(f"/v1/sessions/{session_id}", headers=alice)
    assert session.json()["message_count"] == 0


@pytest.mark.parametrize("confidence", [1.5, -0.01, "high"])
async def test_confidence_outside_0_1_is_400(
    client: AsyncTestClient[Litestar], auth: Auth, confidence: object
) -> None:
    alice = auth("alice")
    session_id = await new_session(client, alice)
    message = await client.post(
        f"/v1/sessions/{session_id}/messages", json={"role": "user", "content": "x"}, headers=alice
    )
    response = await client.post(
        f"/v1/messages/{message.json()['id']}/routing-decision",
        json={"intent": "chat", "confidence": confidence},
        headers=alice,
    )
    assert response.status_code == 400
    assert "confidence" in response.text


async def test_message_to_closed_session_is_409(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alice = auth("alice")
    session_id = await new_session(client, alice)
    await client.post(f"/v1/sessions/{session_id}/close", headers=alice)
    response = await client.post(
        f"/v1/sessions/{session_id}/messages", json={"role": "user", "content": "x"}, headers=alice
    )
    assert response.status_code == 409
    assert response.json()["code"] == "SessionClosed"


async def test_message_to_deleted_session_is_404_and_delete_repeats_as_204(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alice = auth("alice")
    session_id = await new_session(client, alice)
    assert (await client.delete(f"/v1/sessions/{session_id}", headers=alice)).status_code == 204
    assert (await client.delete(f"/v1/sessions/{session_id}", headers=alice)).status_code == 204
    response = await client.post(
        f"/v1/sessions/{session_id}/messages", json={"role": "user", "content": "x"}, headers=alice
    )
    assert response.status_code == 404


async def test_session_pages_follow_next_cursor(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alice = auth("alice")
    created = [await new_session(client, alice) for _ in range(5)]
    seen: list[str] = []
    url = "/v1/sessions?limit=2"
    while url:
        page = (await client.get(url, headers=alice)).json()
        seen += [s["id"] for s in page["items"]]
        url = f"/v1/sessions?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == list(reversed(created))


@pytest.mark.parametrize("query", ["cursor=%%%", "cursor=abc", "limit=0", "limit=201", "limit=x"])
async def test_bad_paging_parameters_are_400(
    client: AsyncTestClient[Litestar], auth: Auth, query: str
) -> None:
    response = await client.get(f"/v1/sessions?{query}", headers=auth("alice"))
    assert response.status_code == 400


async def test_malformed_session_id_is_a_client_error(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    response = await client.get("/v1/sessions/not-a-uuid", headers=auth("alice"))
    assert response.status_code == 404  # no route has such a path
    assert "Traceback" not in response.text


async def test_openapi_document_names_every_operation(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {
        "createSession",
        "listSessions",
        "getSession",
        "deleteSession",
        "closeSession",
        "appendMessage",
        "listMessages",
        "recordRoutingDecision",
        "conversationStats",
        "getOwnUsage",
        "setQuota",
        "health",
    } <= operations


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/sessions", {"title": "a\u0000b"}, "title"),
        ("/v1/sessions", {"metadata": {"k": ["ok", "a\u0000"]}}, "metadata.k[1]"),
    ],
)
async def test_nul_characters_are_422_naming_the_field_on_every_backend(
    client: AsyncTestClient[Litestar],
    auth: Auth,
    path: str,
    body: dict[str, object],
    field: str,
) -> None:
    response = await client.post(path, json=body, headers=auth("alice"))
    assert (response.status_code, response.json()["field"]) == (422, field)


async def test_nul_in_a_message_is_422(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    session_id = await new_session(client, auth("alice"))
    response = await client.post(
        f"/v1/sessions/{session_id}/messages",
        json={"role": "user", "content": "a\u0000b"},
        headers=auth("alice"),
    )
    assert (response.status_code, response.json()["field"]) == (422, "content")
    listed = await client.get(f"/v1/sessions/{session_id}/messages", headers=auth("alice"))
    assert listed.json()["items"] == []
