"""The embedded default loses nothing on restart: without Redis, working memory is kept in
the memory module's own database, not in the process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import create_app


async def test_working_memory_is_still_there_after_a_restart(
    settings: Settings, auth: Callable[..., dict[str, str]]
) -> None:
    alice = auth("alice")
    async with AsyncTestClient(app=create_app(settings)) as client:
        session = (await client.post("/v1/sessions", json={"title": "trip"}, headers=alice)).json()
        path = f"/v1/sessions/{session['id']}/working-memory"
        fact = {"kind": "fact", "content": "the train leaves at nine"}
        assert (await client.post(path, json=fact, headers=alice)).status_code == 201
        message = {"role": "user", "content": "book two seats"}
        sent = await client.post(
            f"/v1/sessions/{session['id']}/messages", json=message, headers=alice
        )
        assert sent.status_code == 201
        for _ in range(200):  # the turn arrives by event, a moment later
            before = (await client.get(path, headers=alice)).json()
            if len(before["items"]) == 2:
                break
            await asyncio.sleep(0.05)
    assert before["backend"] == "database"

    async with AsyncTestClient(app=create_app(settings)) as restarted:
        after = (await restarted.get(path, headers=alice)).json()
    assert {i["content"] for i in before["items"]} == {"the train leaves at nine", "book two seats"}
    assert after["items"] == before["items"]
