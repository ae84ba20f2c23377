"""Bulkheads, measured against a real `bulkhead serve`: what one module's trouble costs the
others.

  outage    billing's PostgreSQL database refused (ALLOW_CONNECTIONS false), then hanging
            (a TCP proxy that accepts and never answers); the other modules on SQLite.
            p50/p99 of a healthy route (GET /v1/sessions) in each phase against before,
            and how long billing takes to answer its 503.
  capacity  a burst of slow searches (the embeddings endpoint answers after 300 ms) while
            GET /v1/sessions is timed: with rag's in-flight limit, and without (the
            baseline, in the same run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from litestar import Litestar, post
from litestar.params import JSONBody
from sqlalchemy.engine import make_url

from app.kernel import provision
from app.kernel.auth import create_token
from bench.sizes import size
from tests.conftest import POSTGRES_ADMIN_URL, postgres_unavailable_reason
from tests.database_outage import allow_connections
from tests.e2e.test_server import bulkhead, free_port, start_server
from tests.tcp_proxy import TcpProxy

CALLS = int(size("BENCH_BULKHEAD_CALLS", "200", "10"))
BURST = int(size("BENCH_BULKHEAD_BURST", "60", "6"))
SECRET = "bench-bulkheads-" + "s" * 40
EMBEDDING_DELAY_S = 0.3


def p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, round(q * len(ordered)))]


async def timed(
    call: Callable[[], Awaitable[httpx.Response]], runs: int
) -> tuple[list[float], set[int]]:
    latencies, statuses = [], set()
    for _ in range(runs):
        started = time.perf_counter()
        answer = await call()
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.add(answer.status_code)
    return latencies, statuses


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    bulkhead(env, "db", "upgrade")
    yield from start_server(env, 1)


def _headers(user: str = "alice", admin: bool = False) -> dict[str, str]:
    token = create_token(SECRET, user, admin=admin, ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


async def outage(root: Path) -> dict[str, tuple[list[float], list[float], set[int]]] | str:
    if reason := postgres_unavailable_reason():
        return reason
    prefix = f"bhbench_{secrets.token_hex(4)}"
    done = await provision.provision(
        POSTGRES_ADMIN_URL, ["billing"], prefix=prefix, output=root / "urls.json"
    )
    url = make_url(done.urls["billing"])
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(root / "outage"),
        "BULKHEAD_JWT_SECRET": SECRET,
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        "BULKHEAD_DATABASE_URL_BILLING": url.set(port=proxy.port).render_as_string(False),
    }
    phases: dict[str, tuple[list[float], list[float], set[int]]] = {}
    try:
        with server(env) as base:
            async with httpx.AsyncClient(base_url=base, headers=_headers(), timeout=60) as client:
                for phase in ("before", "refused", "hanging", "after"):
                    if phase == "refused":
                        await allow_connections(done.urls["billing"], False)
                    if phase == "hanging":  # from a healthy billing again, then it hangs
                        await allow_connections(done.urls["billing"], True)
                        await _until_billing_answers(client)
                        proxy.hang()
                    if phase == "after":
                        proxy.resume()
                        await _until_billing_answers(client)
                    healthy, _ = await timed(lambda: client.get("/v1/sessions"), CALLS)
                    failing, statuses = await timed(lambda: client.get("/v1/usage"), CALLS)
                    phases[phase] = (healthy, failing, statuses)
    finally:
        proxy.resume()
        proxy.stop()
        await allow_connections(done.urls["billing"], True)
        await provision.drop(POSTGRES_ADMIN_URL, ["billing"], prefix=prefix)
    return phases


async def _until_billing_answers(client: httpx.AsyncClient) -> None:
    """Recovery is by itself (the breaker lets a probe through): wait for it."""
    deadline = time.monotonic() + 30
    while (await client.get("/v1/usage")).status_code != 200:
        assert time.monotonic() < deadline, "billing did not come back"
        await asyncio.sleep(0.1)


@contextlib.contextmanager
def slow_embeddings() -> Iterator[str]:
    @post("/v1/embeddings", status_code=200)
    async def embeddings(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        await asyncio.sleep(EMBEDDING_DELAY_S)
        vectors = [[float(len(text)), 1.0, 0.5] for text in data["input"]]
        return {"data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)]}

    port = free_port()
    app = Litestar([embeddings])
    endpoint = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=endpoint.run, daemon=True)
    thread.start()
    while not endpoint.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        endpoint.should_exit = True
        thread.join(timeout=10)


async def capacity(
    root: Path, rag_limit: int, embeddings_url: str
) -> tuple[list[float], list[float], dict[int, int]]:
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(root / f"capacity-{rag_limit}"),
        "BULKHEAD_JWT_SECRET": SECRET,
        "BULKHEAD_EMBEDDING_MODEL": "openai:slow",
        "BULKHEAD_EMBEDDINGS_URL": embeddings_url,
        "BULKHEAD_MAX_IN_FLIGHT": f"rag={rag_limit}",
    }
    with server(env) as base:
        async with httpx.AsyncClient(base_url=base, headers=_headers(), timeout=120) as client:
            document = {"source": "harbour.md", "text": "The harbour opens at dawn."}
            made = await client.post("/v1/documents", json=document, headers=_headers("ops", True))
            assert made.status_code == 201, made.text
            before, _ = await timed(lambda: client.get("/v1/sessions"), CALLS)

            async def search() -> int:
                answer = await client.post("/v1/search", json={"query": "harbour"})
                return answer.status_code

            burst = [asyncio.create_task(search()) for _ in range(BURST)]
            during, _ = await timed(lambda: client.get("/v1/sessions"), min(CALLS, BURST))
            answered: dict[int, int] = {}
            for status in await asyncio.gather(*burst):
                answered[status] = answered.get(status, 0) + 1
    return before, during, answered


async def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        phases = await outage(root)
        with slow_embeddings() as url:
            limited = await capacity(root, 4, url)
            unlimited = await capacity(root, 100_000, url)
    print(f"\nOne module's database in trouble, {CALLS} sequential calls per phase (ms)")
    if isinstance(phases, str):
        print(f"skipped: {phases}")
    else:
        base = phases["before"][0]
        print(
            f"{'phase':<9} {'sessions p50':>12} {'p99':>7} {'p99 ratio':>9} {'billing p50':>11} {'p99':>7}  billing answers"
        )
        for name, (healthy, failing, statuses) in phases.items():
            print(
                f"{name:<9} {p(healthy, 0.5):>12.2f} {p(healthy, 0.99):>7.2f} "
                f"{p(healthy, 0.99) / p(base, 0.99):>8.2f}x {p(failing, 0.5):>11.2f} "
                f"{p(failing, 0.99):>7.2f}  {sorted(statuses)}"
            )
    print(
        f"\nGET /v1/sessions during a burst of {BURST} slow searches ({EMBEDDING_DELAY_S * 1000:.0f} ms each at the embedder), ms"
    )
    print(
        f"{'rag in-flight limit':<20} {'before p99':>10} {'during p50':>10} {'p99':>8} {'p99 ratio':>9}  searches"
    )
    for name, (before, during, answered) in (("4", limited), ("none (baseline)", unlimited)):
        print(
            f"{name:<20} {p(before, 0.99):>10.2f} {p(during, 0.5):>10.2f} {p(during, 0.99):>8.2f} "
            f"{p(during, 0.99) / p(before, 0.99):>8.2f}x  {dict(sorted(answered.items()))}"
        )


if __name__ == "__main__":
    asyncio.run(main())
