"""Log lines are JSON objects with the request's id and trace id, and no secrets."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.logging.standard import QueueListenerHandler
from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import create_app

Auth = Callable[..., dict[str, str]]


def written_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON lines the server wrote. A thread of Litestar's writes them from a queue:
    what is queued is written first, as reading the capture while that thread writes to it
    can lose lines."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, QueueListenerHandler):
            handler.queue.join()  # type: ignore[attr-defined]  # returns once each is written
    out, err = capfd.readouterr()
    return [json.loads(line) for line in (out + err).splitlines() if line.startswith("{")]


async def test_each_line_carries_the_request_and_trace_ids(
    sqlite_settings: Settings, migrated_sqlite: Path, auth: Auth, capfd: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    token = auth("ana")
    async with AsyncTestClient(app=create_app(sqlite_settings)) as client:
        answer = await client.post(
            "/v1/tools/math.evaluate/executions",
            json={"params": {"expression": "secret-param-9"}},
            headers={**token, "X-Request-ID": "req-1234"},
        )
        forged = await client.get("/v1/sessions", headers={**token, "X-Request-ID": "x\ny"})
        refused = await client.get("/v1/sessions", headers={"X-Request-ID": "no-token-1"})
        session = (await client.post("/v1/sessions", json={"title": "t"}, headers=token)).json()
        said = {"role": "user", "content": "my locker code is secret-message-77"}
        posted = await client.post(
            f"/v1/sessions/{session['id']}/messages", json=said, headers=token
        )
        assert posted.status_code == 201, posted.text
        lines = written_lines(capfd)

    assert answer.headers["x-request-id"] == "req-1234"
    assert forged.headers["x-request-id"] not in ("x\ny", "")  # a new id, not the forged one
    access = [line for line in lines if line["logger"] == "bulkhead.access"]
    (mine,) = [line for line in access if line["request_id"] == "req-1234"]
    assert mine["message"].startswith("POST /v1/tools/math.evaluate/executions 201 ")
    assert len(mine["trace_id"]) == 32
    # Refused before any route ran (by auth), it still has its id and its line.
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "no-token-1"
    assert any(line["request_id"] == "no-token-1" for line in access)
    everything = json.dumps(lines)
    assert "secret-param-9" not in everything
    assert "secret-message-77" not in everything
    assert token["Authorization"].removeprefix("Bearer ") not in everything
