"""POST and DELETE /v1/sessions run the sagas; the admin routes show them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import create_app
from app.sagas.settings import SagaSettings

Auth = Callable[..., dict[str, str]]


async def test_quota_refusal_is_429_and_leaves_nothing(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    admin, alice = auth("root", admin=True), auth("alice")
    await client.put("/v1/admin/quotas/alice", json={"max_active_sessions": 1}, headers=admin)
    assert (await client.post("/v1/sessions", json={}, headers=alice)).status_code == 201
    refused = await client.post("/v1/sessions", json={}, headers=alice)
    assert (refused.status_code, refused.json()["code"]) == (429, "QuotaExceeded")
    assert len((await client.get("/v1/sessions", headers=alice)).json()["items"]) == 1
    usage = (await client.get("/v1/usage", headers=alice)).json()
    assert (usage["active_sessions"], usage["sessions_total"]) == (1, 1)
    compensated = await client.get("/v1/admin/sagas?state=compensated", headers=admin)
    [saga] = compensated.json()["items"]
    assert saga["error_code"] == "QuotaExceeded"


async def test_delete_undoes_all_three(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    alice = auth("alice")
    session = (await client.post("/v1/sessions", json={}, headers=alice)).json()
    working = f"/v1/sessions/{session['id']}/working-memory"
    assert (await client.get(working, headers=alice)).status_code == 200
    deleted = await client.delete(f"/v1/sessions/{session['id']}", headers=alice)
    assert deleted.status_code == 204
    assert (await client.get(working, headers=alice)).status_code == 404
    assert (await client.get("/v1/usage", headers=alice)).json()["active_sessions"] == 0
    assert (await client.delete(f"/v1/sessions/{session['id']}", headers=alice)).status_code == 204
    bobs = await client.delete(f"/v1/sessions/{session['id']}", headers=auth("bob"))
    assert bobs.status_code == 404


async def test_saga_still_retrying_past_the_deadline_answers_202(
    settings: Settings, auth: Auth
) -> None:
    # Working memory is down: the saga retries memory.initialize with backoff.
    settings = replace(settings, redis_url="redis://127.0.0.1:1/0").with_values(
        SagaSettings, request_deadline_s=0.2, backoff_s=1.0
    )
    async with AsyncTestClient(create_app(settings)) as client:
        pending = await client.post("/v1/sessions", json={}, headers=auth("alice"))
        assert pending.status_code == 202
        saga_id = pending.json()["saga_id"]
        # The answer comes at the deadline, not at the first failure: on a busy machine the
        # saga may not have recorded it yet. It goes on retrying behind the answer.
        saga = await _saga_once(client, saga_id, lambda s: len(s["history"]) >= 2, auth)
    assert (saga["state"], saga["current_step"]) == ("running", "initialize_memory")
    assert [(h["step"], h["outcome"]) for h in saga["history"]][:2] == [
        ("create_conversation", "succeeded"),
        ("initialize_memory", "failed"),
    ]


async def test_admin_saga_routes_are_guarded_and_retry_only_what_needs_it(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    await client.post("/v1/sessions", json={}, headers=auth("alice"))
    assert (await client.get("/v1/admin/sagas", headers=auth("alice"))).status_code == 403
    [saga] = (await client.get("/v1/admin/sagas", headers=auth("root", admin=True))).json()["items"]
    retried = await client.post(
        f"/v1/admin/sagas/{saga['id']}/retry", headers=auth("root", admin=True)
    )
    assert (retried.status_code, retried.json()["code"]) == (409, "SagaNotRetryable")


async def _saga_once(
    client: AsyncTestClient[Litestar],
    saga_id: str,
    done: Callable[[dict[str, Any]], bool],
    auth: Auth,
    within_s: float = 10.0,
) -> dict[str, Any]:
    """The admin route's view of a saga, as soon as `done` holds of it (or at `within_s`)."""
    deadline = time.monotonic() + within_s
    while True:
        detail = await client.get(f"/v1/admin/sagas/{saga_id}", headers=auth("root", admin=True))
        saga: dict[str, Any] = detail.json()
        if done(saga) or time.monotonic() > deadline:
            return saga
        await asyncio.sleep(0.05)
