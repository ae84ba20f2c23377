"""The OpenAI-compatible embedder against a real local HTTP server speaking that API."""

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import uvicorn
from litestar import Litestar, post
from litestar.params import JSONBody

from app.kernel.embedding import create_embedder
from app.kernel.settings import Settings
from contracts.errors import Unavailable


@post("/v1/embeddings", status_code=200)
async def embeddings(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    # Answers out of order, unnormalised: the client must sort by index and normalise.
    items = [
        {"index": i, "embedding": [float(len(text)), 1.0, 0.0]}
        for i, text in enumerate(data["input"])
    ]
    return {"model": data["model"], "data": list(reversed(items))}


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Litestar([embeddings]), port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await task


async def test_vectors_come_back_in_input_order_and_normalised(endpoint: str) -> None:
    embedder = create_embedder("openai:test-model", Settings(embeddings_url=endpoint))
    vectors = await embedder.embed(["a", "abc"])
    expected = np.array([[1.0, 1.0, 0.0], [3.0, 1.0, 0.0]])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert embedder.model_name == "openai:test-model"
    assert np.allclose(vectors, expected, atol=1e-6)


async def test_unreachable_endpoint_is_unavailable() -> None:
    embedder = create_embedder("openai:x", Settings(embeddings_url="http://127.0.0.1:1/v1"))
    with pytest.raises(Unavailable, match="embeddings endpoint"):
        await embedder.embed(["hello"])


def test_openai_model_without_a_url_is_refused_clearly() -> None:
    with pytest.raises(Unavailable, match="BULKHEAD_EMBEDDINGS_URL"):
        create_embedder("openai:x", Settings())
