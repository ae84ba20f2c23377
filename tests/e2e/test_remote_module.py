"""A module served by its own process, called by another through its Protocol over HTTP.

Two real `bulkhead serve` processes: `rag` alone, and an edge with everything else and
`BULKHEAD_REMOTE_RAG` pointing at it. The edge's public routes, and a client in this test,
reach RAG only over the internal routes, with service tokens checked for real.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from app.kernel.rpc.client import RemoteModule
from app.kernel.rpc.service_tokens import ServiceSigner
from app.kernel.rpc.settings import RpcSettings
from contracts.errors import Unavailable
from contracts.rag import DocumentCreate, DocumentNotFound, RagAPI, SearchRequest

from .test_server import bulkhead, free_port, start_server

pytestmark = pytest.mark.e2e
SECRET = "remote-test-" + "s" * 40


@pytest.fixture
def split(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(edge URL, rag URL, the edge's environment)."""
    keys = tmp_path / "keys"
    common = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_JWT_SECRET": SECRET,
        "BULKHEAD_KEYS_DIR": str(keys),
        "BULKHEAD_BUS_URL": redis_url,
        "BULKHEAD_REDIS_KEY_PREFIX": redis_prefix,
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
    }
    cli = {**common, "BULKHEAD_DATA_DIR": str(tmp_path / "keys-cli")}
    for service in ("edge", "rag"):
        bulkhead(cli, "keys", "create", "--service", service)
    bulkhead(cli, "keys", "create", "--service", "billing-only", "--modules", "billing")
    edge_port = free_port()
    rag_env = {  # as the README's "Splitting a module out" runs it
        **common,
        "BULKHEAD_DATA_DIR": str(tmp_path / "rag"),
        "BULKHEAD_SERVICE_NAME": "rag",
        "BULKHEAD_REMOTE_SAGAS": f"http://127.0.0.1:{edge_port}",  # token revocations
    }
    bulkhead(rag_env, "db", "upgrade", "--module", "rag")
    for rag_url in start_server({**rag_env, "BULKHEAD_MODULES": "rag"}, 1):
        edge_env = {
            **common,
            "BULKHEAD_DATA_DIR": str(tmp_path / "edge"),
            "BULKHEAD_SERVICE_NAME": "edge",
            "BULKHEAD_REMOTE_RAG": rag_url,
        }
        bulkhead(edge_env, "db", "upgrade")
        for edge_url in start_server(edge_env, 1, edge_port):
            yield edge_url, rag_url, edge_env


def client_as(service: str, keys: Path, rag_url: str, runs: list[str]) -> RemoteModule:
    signer = ServiceSigner(keys, service, runs)
    return RemoteModule("rag", RagAPI, rag_url, signer, RpcSettings(timeout_s=10))


def test_the_edge_serves_rag_routes_through_the_remote(
    split: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    edge, _, env = split
    admin = bulkhead(env, "token", "create", "--user", "ops", "--admin").strip()
    headers = {"Authorization": f"Bearer {admin}"}
    made = httpx.post(
        f"{edge}/v1/documents",
        json={"source": "sea.md", "text": "Tea by the sea, at dawn, with gulls."},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    found = httpx.post(f"{edge}/v1/search", json={"query": "tea sea", "k": 3}, headers=headers)
    assert found.status_code == 200, found.text
    assert [h["source"] for h in found.json()["hits"]] == ["sea.md"]
    # The chunk lives in the rag process's database only.
    assert (tmp_path / "rag" / "rag.sqlite3").stat().st_size > 0
    assert not (tmp_path / "edge" / "rag.sqlite3").exists()  # `db upgrade` left it alone
    missing = httpx.get(f"{edge}/v1/documents/{uuid.uuid4()}", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "DocumentNotFound")
    health = httpx.get(f"{edge}/v1/admin/health", headers=headers).json()
    assert "remote:rag" in str(health)


async def test_a_client_gets_results_and_declared_errors_as_their_own_classes(
    split: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    _, rag_url, _ = split
    rag = client_as("edge", tmp_path / "keys", rag_url, ["conversation", "composition"])
    try:
        (result,) = await rag.ingest(documents=[DocumentCreate(source="a.md", text="green tea")])
        assert result.status == "created"
        hits = (await rag.search(request=SearchRequest(query="green tea", k=2))).hits
        assert hits and hits[0].source == "a.md"
        with pytest.raises(DocumentNotFound) as caught:
            await rag.get_document(document_id=uuid.uuid4())
        assert caught.value.code == "DocumentNotFound" and caught.value.field == "document_id"
        with pytest.raises(TypeError):
            await rag.search(requets=SearchRequest(query="x"))  # a wrong argument name
    finally:
        await rag.close()


async def test_a_caller_the_registry_does_not_allow_is_refused(
    split: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    _, rag_url, _ = split
    outsider = client_as("billing-only", tmp_path / "keys", rag_url, ["billing"])
    # Its key is bound to billing: claiming to be the saga store or to compose gets it nowhere.
    posing = client_as("billing-only", tmp_path / "keys", rag_url, ["sagas", "composition"])
    try:
        for caller in (outsider, posing):
            with pytest.raises(Unavailable, match="may not call the rag module"):
                await caller.stats(since=_now(), until=_now())
    finally:
        await outsider.close()
        await posing.close()


def test_internal_routes_take_only_valid_service_tokens(
    split: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    edge, rag, env = split
    url = f"{rag}/internal/v1/rag/get_document"
    body = {"document_id": str(uuid.uuid4())}
    user = bulkhead(env, "token", "create", "--user", "alice", "--admin").strip()
    key = (tmp_path / "keys" / "edge.key").read_bytes()

    def signed(**changes: object) -> str:
        now = int(time.time())
        claims = {
            "iss": "edge",
            "aud": "rag",
            "iat": now,
            "exp": now + 60,
            "mods": ["composition"],
        }
        private = serialization.load_pem_private_key(key, password=None)
        return jwt.encode({**claims, **changes}, private, algorithm="EdDSA")  # type: ignore[arg-type]  # an Ed25519 key

    def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(url, json=body, headers=headers).status_code

    assert status(None) == 401
    assert status(user) == 401  # a user's token, however good, is not a service's
    assert status(signed(aud="tools")) == 403  # for another module
    assert status(signed(exp=int(time.time()) - 10)) == 401  # expired
    assert status(signed(exp=int(time.time()) + 3600)) == 401  # lives past five minutes
    assert status(signed(iss="nobody")) == 401  # no such service key
    assert status(signed(mods=["billing"])) == 403  # billing may not call rag
    assert status(signed()) == 404  # let in: the document is not there
    # A user's token on the rag process's own public route: revocations are the edge's.
    search = f"{rag}/v1/search"
    assert (
        httpx.post(
            search, json={"query": "x"}, headers={"Authorization": f"Bearer {user}"}
        ).status_code
        == 200
    )
    admin = bulkhead(env, "token", "create", "--user", "ops", "--admin").strip()
    revoked = httpx.post(
        f"{edge}/v1/admin/users/alice/tokens/revoke", headers={"Authorization": f"Bearer {admin}"}
    )
    assert revoked.status_code == 200, revoked.text
    refused = httpx.post(search, json={"query": "x"}, headers={"Authorization": f"Bearer {user}"})
    assert refused.status_code == 401, refused.text
    # A service token is no good on a public route.
    assert (
        httpx.post(
            f"{edge}/v1/search",
            json={"query": "x"},
            headers={"Authorization": f"Bearer {signed(aud='rag')}"},
        ).status_code
        == 401
    )


def _now() -> datetime:
    from datetime import datetime

    return datetime.now(UTC)
