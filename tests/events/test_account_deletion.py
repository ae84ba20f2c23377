"""Deleting an account: its tokens stop working everywhere, its limits stay, and nothing of
what it wrote is left in the saga store; an admin can revoke a user's tokens too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import events_settled

Auth = Callable[..., dict[str, str]]
Client = AsyncTestClient[Litestar]


async def new_token_a_second_on(auth: Auth, user: str) -> dict[str, str]:
    await asyncio.sleep(
        1.01
    )  # tokens carry whole seconds: one from the revocation's second is refused too
    return auth(user)


async def test_a_deleted_users_token_is_refused_and_a_new_one_works(
    client: Client, auth: Auth
) -> None:
    alice = auth("alice")
    assert (
        await client.post("/v1/sessions", json={"title": "x"}, headers=alice)
    ).status_code == 201
    assert (await client.delete("/v1/users/me", headers=alice)).status_code == 202
    refused = await client.post("/v1/sessions", json={"title": "again"}, headers=alice)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert (await client.get("/v1/sessions", headers=auth("bob"))).status_code == 200
    fresh = await new_token_a_second_on(auth, "alice")
    assert (await client.get("/v1/sessions", headers=fresh)).status_code == 200


async def test_deleting_an_account_keeps_its_limits(client: Client, auth: Auth) -> None:
    admin, alice = auth("root", admin=True), auth("alice")
    quota = {"max_active_sessions": 5, "max_sessions_per_day": 2}
    assert (
        await client.put("/v1/admin/quotas/alice", json=quota, headers=admin)
    ).status_code == 200
    for title in ("one", "two"):
        created = await client.post("/v1/sessions", json={"title": title}, headers=alice)
        assert created.status_code == 201
    assert (await client.post("/v1/sessions", json={}, headers=alice)).status_code == 429
    assert (await client.delete("/v1/users/me", headers=alice)).status_code == 202
    await events_settled(client)

    alice = await new_token_a_second_on(auth, "alice")
    again = await client.post("/v1/sessions", json={"title": "three"}, headers=alice)
    assert again.status_code == 429, again.text  # the day's count survived the deletion
    kept = (await client.get("/v1/admin/quotas/alice", headers=admin)).json()
    assert (kept["max_sessions_per_day"], kept["is_default"]) == (2, False)
    usage = (await client.get("/v1/usage", headers=alice)).json()
    assert (usage["active_sessions"], usage["sessions_today"]) == (0, 2)


async def test_an_admin_revokes_a_users_tokens(client: Client, auth: Auth) -> None:
    admin, alice, bob = auth("root", admin=True), auth("alice"), auth("bob")
    url = "/v1/admin/users/alice/tokens/revoke"
    assert (await client.post(url, headers=alice)).status_code == 403
    revoked = await client.post(url, headers=admin)
    assert revoked.status_code == 200 and revoked.json()["reason"] == "admin"
    assert (await client.get("/v1/sessions", headers=alice)).status_code == 401
    assert (await client.get("/v1/sessions", headers=bob)).status_code == 200
    assert (await client.get("/v1/sessions", headers=admin)).status_code == 200
    fresh = await new_token_a_second_on(auth, "alice")
    assert (await client.get("/v1/sessions", headers=fresh)).status_code == 200
    bad = await client.post("/v1/admin/users/no%20such/tokens/revoke", headers=admin)
    assert bad.status_code == 422


async def test_deletion_leaves_nothing_of_the_user_in_the_saga_store(
    client: Client, auth: Auth
) -> None:
    admin, alice = auth("root", admin=True), auth("alice")
    key = {"Idempotency-Key": "trip-1"}
    first = await client.post(
        "/v1/sessions",
        json={"title": "secret trip", "metadata": {"to": "Oslo"}},
        headers={**alice, **key},
    )
    assert first.status_code == 201
    sagas = (await client.get("/v1/admin/sagas", headers=admin)).json()["items"]
    assert any(s["payload"].get("title") == "secret trip" for s in sagas)  # the twin

    assert (await client.delete("/v1/users/me", headers=alice)).status_code == 202
    await events_settled(client)
    sagas = (await client.get("/v1/admin/sagas", headers=admin)).json()["items"]
    assert not any(s["payload"].get("user_id") == "alice" for s in sagas)

    # The same key again, from the same (new) account: a new session, not a 404.
    alice = await new_token_a_second_on(auth, "alice")
    again = await client.post("/v1/sessions", json={"title": "new"}, headers={**alice, **key})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first.json()["id"]
