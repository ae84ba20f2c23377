"""The RAG module over HTTP: admins ingest and delete, any user searches; bad input is 4xx."""

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from contracts.rag import MAX_QUERY_CHARS, MAX_TEXT_CHARS

Auth = Callable[..., dict[str, str]]
DOC = {"source": "kb/cats.md", "text": "Cats purr. Dogs bark.", "metadata": {"lang": "en"}}


async def chunk_count(client: AsyncTestClient[Litestar], auth: Auth) -> int:
    stats = await client.get("/v1/rag/stats", headers=auth("root", admin=True))
    return int(stats.json()["chunks"])


async def test_admin_ingests_and_any_user_searches(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    created = await client.post("/v1/documents", json=DOC, headers=auth("root", admin=True))
    assert created.status_code == 201 and created.json()["status"] == "created"
    found = await client.post("/v1/search", json={"query": "purr"}, headers=auth("alice"))
    assert found.status_code == 200
    assert found.json()["hits"][0]["source"] == "kb/cats.md"


async def test_ingest_and_delete_need_the_admin_claim(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alice = auth("alice")
    assert (await client.post("/v1/documents", json=DOC, headers=alice)).status_code == 403
    batch = {"documents": [DOC]}
    assert (await client.post("/v1/documents/batch", json=batch, headers=alice)).status_code == 403
    deleted = await client.delete("/v1/documents?source=kb/cats.md", headers=alice)
    assert deleted.status_code == 403
    assert await chunk_count(client, auth) == 0


async def test_batch_ingest_and_delete_by_source(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    admin = auth("root", admin=True)
    batch = {"documents": [DOC, {**DOC, "source": "kb/dogs.md", "text": "Dogs fetch."}]}
    results = (await client.post("/v1/documents/batch", json=batch, headers=admin)).json()
    assert [r["status"] for r in results] == ["created", "created"]
    again = (await client.post("/v1/documents/batch", json=batch, headers=admin)).json()
    assert [r["status"] for r in again] == ["unchanged", "unchanged"]
    deleted = await client.delete("/v1/documents?source=kb/dogs.md", headers=admin)
    assert deleted.json() == {"deleted": 1}
    document_id = results[0]["document_ids"][0]
    assert (await client.get(f"/v1/documents/{document_id}", headers=admin)).status_code == 200
    assert (await client.delete(f"/v1/documents/{document_id}", headers=admin)).status_code == 204
    assert (await client.delete(f"/v1/documents/{document_id}", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        # 400: the body does not fit the DTO (Litestar's decoding); 422: the service refuses.
        ({"source": "a", "text": ""}, 400),
        ({"source": "a", "text": "   \n "}, 400),
        ({"source": "", "text": "hello"}, 400),
        ({"source": "a", "text": "x" * (MAX_TEXT_CHARS + 1)}, 400),
        ({"source": "a", "text": "ok", "metadata": {"bad key!": 1}}, 400),
        ({"source": "a", "text": "ok", "metadata": {"blob": "x" * 20_000}}, 422),
        ({"source": "a", "text": "ok", "extra": True}, 400),
    ],
)
async def test_bad_documents_are_refused_and_nothing_is_written(
    client: AsyncTestClient[Litestar], auth: Auth, body: dict[str, object], status: int
) -> None:
    response = await client.post("/v1/documents", json=body, headers=auth("root", admin=True))
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert await chunk_count(client, auth) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "cats", "k": 0}, "k"),
        ({"query": "cats", "k": 51}, "k"),
        ({"query": "cats", "mode": "semantic"}, "mode"),
        ({"query": "cats", "filters": {"metadata": {"tags": ["a", "b"]}}}, "metadata"),
        ({"query": "cats", "filters": {"metadata": {"nested": {"a": 1}}}}, "metadata"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query"),
        ({"query": ""}, "query"),
        ({"query": "?!"}, "query"),
    ],
)
async def test_bad_searches_are_400_naming_the_field_and_log_nothing(
    client: AsyncTestClient[Litestar], auth: Auth, body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/search", json=body, headers=auth("alice"))
    assert response.status_code == 400, response.text
    assert field in response.text
    stats = await client.get("/v1/rag/stats", headers=auth("root", admin=True))
    assert stats.json()["searches"] == 0


async def test_stats_need_the_admin_claim(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    assert (await client.get("/v1/rag/stats", headers=auth("alice"))).status_code == 403
    response = await client.get("/v1/rag/stats?range=7d", headers=auth("root", admin=True))
    assert response.status_code == 200
    assert response.json()["active_model"] == "hashing-256"
