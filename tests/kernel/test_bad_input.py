"""Input that once reached a 500: each answers a clear 4xx (503 for an unreachable
database). Checks made before any query runs use SQLite only; the message whose tokens and
text index reach the database runs on both backends. The schemathesis run (tests/e2e)
sends these shapes too."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.kernel.settings import Settings
from app.main import create_app
from tests.conftest import upgrade_all

Auth = Callable[..., dict[str, str]]
Client = AsyncTestClient[Litestar]
DEEP = '{"a":' * 950 + "1" + "}" * 950
EARLIEST_PLUS_14 = "0001-01-01T00:00:00+14:00"  # before year 1 once in UTC
LATEST_MINUS_14 = "9999-12-31T23:00:00-14:00"  # after year 9999 once in UTC


@pytest.fixture
async def sqlite_client(sqlite_settings: Settings) -> AsyncIterator[Client]:
    await upgrade_all(sqlite_settings)
    async with AsyncTestClient(app=create_app(sqlite_settings)) as client:
        yield client


def cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/sessions", '{"title": "x", "metadata": ' + DEEP + "}"),
        ("POST", "/v1/memories", '{"content": "x", "extra": ' + DEEP + "}"),
        ("POST", "/v1/tools/math.evaluate/executions", '{"params": ' + DEEP + "}"),
        ("POST", "/v1/search", '{"query": "x", "filters": {"metadata": ' + DEEP + "}}"),
    ],
)
async def test_json_nested_950_deep_is_a_400(
    sqlite_client: Client, auth: Auth, method: str, path: str, body: str
) -> None:
    answer = await sqlite_client.request(
        method, path, content=body, headers={**auth("alice"), "content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert "levels deep; at most 64" in answer.json()["detail"]


@pytest.mark.parametrize(
    "listing",
    ["/v1/sessions", "/v1/memories", "/v1/tools/executions", "/v1/sessions/{session}/messages"],
)
@pytest.mark.parametrize("key", [EARLIEST_PLUS_14, LATEST_MINUS_14, 1e30, 10**30])
async def test_a_cursor_out_of_range_is_a_400(
    sqlite_client: Client, auth: Auth, listing: str, key: object
) -> None:
    admin = auth("root", admin=True)
    session = (await sqlite_client.post("/v1/sessions", json={}, headers=admin)).json()
    name = listing.rsplit("/", 1)[1]
    parts = (name, key) if name == "messages" else (name, key, str(uuid.uuid4()))
    url = listing.format(session=session["id"]) + "?cursor=" + cursor(*parts)
    answer = await sqlite_client.get(url, headers=admin)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "InvalidCursor"


@pytest.mark.parametrize("moment", [EARLIEST_PLUS_14, LATEST_MINUS_14])
async def test_times_out_of_range_are_a_422(sqlite_client: Client, auth: Auth, moment: str) -> None:
    alice = auth("alice")
    made = await sqlite_client.post(
        "/v1/memories", json={"content": "x", "valid_to": moment}, headers=alice
    )
    assert made.status_code == 422 and made.json()["field"] == "valid_to", made.text
    recall = {"query": "x", "filters": {"created_before": moment}}
    found = await sqlite_client.post("/v1/memories/search", json=recall, headers=alice)
    assert found.status_code == 422, found.text


async def test_a_session_whose_metadata_cannot_be_stored_is_a_422_before_any_saga(
    sqlite_client: Client, auth: Auth
) -> None:
    """Found by the stateful fuzzer: a step refused it halfway and the saga answered 503."""
    admin, alice = auth("ops", admin=True), auth("alice")
    body = {"title": "t", "metadata": {"n": [1, 2, 2**70]}}
    made = await sqlite_client.post("/v1/sessions", json=body, headers=alice)
    assert made.status_code == 422, made.text
    assert made.json()["field"] == "metadata.n[2]"
    sagas = await sqlite_client.get("/v1/admin/sagas", headers=admin)
    assert sagas.json()["items"] == []  # refused before anything started


@pytest.mark.parametrize(
    ("filters", "status"),
    [({f"k{i}": i for i in range(2_000)}, 400), ({"a": 10**30}, 422)],
    ids=["2000-keys-malformed", "huge-integer-invalid"],
)
async def test_search_filters_past_their_bounds_are_refused(
    sqlite_client: Client, auth: Auth, filters: dict[str, int], status: int
) -> None:
    body = {"query": "x", "filters": {"metadata": filters}}
    answer = await sqlite_client.post("/v1/search", json=body, headers=auth("alice"))
    assert answer.status_code == status, answer.text


async def test_an_execution_version_past_any_column_is_a_400(
    sqlite_client: Client, auth: Auth
) -> None:
    body = {"params": {"expression": "1+1"}, "version": 10**20}
    answer = await sqlite_client.post(
        "/v1/tools/math.evaluate/executions", json=body, headers=auth("alice")
    )
    assert answer.status_code == 400, answer.text


async def test_a_message_past_the_tokenizers_size_is_handled(client: Client, auth: Auth) -> None:
    alice = auth("alice")
    session = (await client.post("/v1/sessions", json={}, headers=alice)).json()
    url = f"/v1/sessions/{session['id']}/messages"
    longest = await client.post(
        url, json={"role": "user", "content": "語" * 200_000}, headers=alice
    )
    assert longest.status_code == 201, longest.text
    too_long = await client.post(
        url, json={"role": "user", "content": "語" * 200_001}, headers=alice
    )
    assert too_long.status_code == 400, too_long.text


async def test_usage_with_the_billing_database_unreachable_is_a_503(
    sqlite_settings: Settings, auth: Auth
) -> None:
    await upgrade_all(sqlite_settings)
    # Port 1 on loopback: nothing listens, so every connection is refused at once.
    urls = {"billing": "postgresql+asyncpg://b:b@127.0.0.1:1/billing"}
    settings = replace(sqlite_settings, database_urls=urls)
    async with AsyncTestClient(app=create_app(settings)) as client:
        answer = await client.get("/v1/usage", headers=auth("alice"))
        assert answer.status_code == 503, answer.text
        assert "retry" in answer.json()["detail"] and "Traceback" not in answer.text
        assert answer.headers["retry-after"] == "1"
        assert (await client.get("/v1/memories", headers=auth("alice"))).status_code == 200
