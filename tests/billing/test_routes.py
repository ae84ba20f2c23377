"""Billing over HTTP: own usage, admin-only quotas."""

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Auth = Callable[..., dict[str, str]]


async def test_usage_shows_the_callers_own_quota(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    response = await client.get("/v1/usage", headers=auth("alice"))
    assert response.status_code == 200
    body = response.json()
    assert (body["user_id"], body["active_sessions"], body["quota"]["is_default"]) == (
        "alice",
        0,
        True,
    )


async def test_admin_sets_a_quota_that_the_user_then_sees(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    response = await client.put(
        "/v1/admin/quotas/alice", json={"max_active_sessions": 4}, headers=auth("root", admin=True)
    )
    assert response.status_code == 200
    usage = (await client.get("/v1/usage", headers=auth("alice"))).json()
    assert usage["quota"]["max_active_sessions"] == 4


async def test_quota_routes_need_the_admin_claim(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    response = await client.put(
        "/v1/admin/quotas/alice", json={"max_active_sessions": 1000}, headers=auth("alice")
    )
    assert response.status_code == 403
    assert (await client.get("/v1/admin/quotas/alice", headers=auth("alice"))).status_code == 403


@pytest.mark.parametrize(
    "body", [{"max_active_sessions": -1}, {"max_sessions_per_day": "many"}, {"plan": "gold"}]
)
async def test_bad_quota_is_400(
    client: AsyncTestClient[Litestar], auth: Auth, body: dict[str, object]
) -> None:
    response = await client.put(
        "/v1/admin/quotas/alice", json=body, headers=auth("root", admin=True)
    )
    assert response.status_code == 400
