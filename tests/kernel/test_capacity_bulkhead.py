"""A module takes at most so many calls at once: one more is refused at once with 503 and
Retry-After, and the other modules' routes answer meanwhile. Searches are made slow for
real: the embeddings endpoint (an OpenAI-compatible server on loopback) holds every answer
until the test lets it go."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, post
from litestar.params import JSONBody

from app.kernel.settings import Settings
from app.main import create_app
from tests.over_the_wire import InThreadServer


@dataclass
class SlowEmbeddings:
    """Answers once `release` is set; counts the requests waiting for it. It serves from a
    thread of its own: the test's loop is busy driving the app."""

    release: threading.Event = field(default_factory=threading.Event)
    waiting: int = 0
    url: str = ""


@pytest.fixture
def slow_embeddings() -> Iterator[SlowEmbeddings]:
    state = SlowEmbeddings()
    state.release.set()  # open until a test holds it

    @post("/v1/embeddings", status_code=200)
    async def embeddings(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        state.waiting += 1
        try:
            while not state.release.is_set():
                await asyncio.sleep(0.01)
        finally:
            state.waiting -= 1
        vectors = [[float(len(text)), 1.0, 0.5] for text in data["input"]]
        return {"data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)]}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Litestar([embeddings]), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}/v1"
    yield state
    state.release.set()
    server.should_exit = True
    thread.join(timeout=10)


async def test_a_full_module_refuses_at_once_and_the_others_answer_meanwhile(
    settings: Settings, slow_embeddings: SlowEmbeddings, auth: Callable[..., dict[str, str]]
) -> None:
    settings = replace(
        settings,
        embedding_model="openai:slow",
        embeddings_url=slow_embeddings.url,
        max_in_flight={"rag": 2},
    )
    admin, alice = auth("ops", admin=True), auth("alice")
    # A real server: concurrent requests must really be concurrent.
    with InThreadServer(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            document = {"source": "a.md", "text": "harbour at dawn"}
            made = await client.post("/v1/documents", json=document, headers=admin)
            assert made.status_code == 201, made.text
            slow_embeddings.release.clear()

            async def search() -> httpx.Response:
                return await client.post("/v1/search", json={"query": "harbour"}, headers=alice)

            held = [asyncio.create_task(search()) for _ in range(2)]
            while slow_embeddings.waiting < 2:  # both slots taken, waiting on the endpoint
                await asyncio.sleep(0.01)
            refused = await asyncio.gather(*(search() for _ in range(3)))
            for answer in refused:
                assert answer.status_code == 503, answer.text
                assert answer.json()["details"] == {"module": "rag", "limit": 2}
                assert answer.headers["retry-after"] == "1"
            assert slow_embeddings.waiting == 2  # the refused ones never reached the endpoint
            sessions = await client.get("/v1/sessions", headers=alice)
            assert sessions.status_code == 200  # another module, meanwhile
            session = await client.post("/v1/sessions", json={"title": "t"}, headers=alice)
            assert session.status_code == 201  # a saga across three modules, meanwhile

            slow_embeddings.release.set()
            assert [(await task).status_code for task in held] == [200, 200]
            assert (await search()).status_code == 200  # the slots came back
