"""A module in-process vs in its own process (HTTP on loopback), and a saga with a remote.

  read     conversation.get_session
  write    conversation.append_message
  search   rag.search (hybrid, hashing embedder)
each called sequentially through the local service and through `RemoteModule` against a
real `bulkhead serve --modules ...` on the same SQLite files (p50, p99, p50 ratio); then
the create-session saga with memory served remotely vs all local.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from app.kernel import migrations
from app.kernel.app_factory import close_modules
from app.kernel.settings import Settings
from app.main import DATABASES, bind_modules
from app.sagas import SagaOrchestrator
from app.sagas.create_session import CREATE_SESSION
from bench.sizes import size
from contracts.conversation import ConversationAPI, MessageCreate, SessionCreate
from contracts.memory import MemoryAPI
from contracts.rag import DocumentCreate, RagAPI, SearchRequest
from tests.over_the_wire import served_remotely

CALLS = int(size("BENCH_REMOTE_CALLS", "300", "10"))
SAGAS = int(size("BENCH_REMOTE_SAGAS", "50", "3"))


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    await call()  # warm: connections, caches
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return sorted(latencies)


def p(latencies: list[float], q: float) -> float:
    return latencies[min(len(latencies) - 1, round(q * len(latencies)))]


async def calls(conversation: ConversationAPI, rag: RagAPI) -> dict[str, list[float]]:
    session = await conversation.create_session(user_id="bench", session=SessionCreate())
    message = MessageCreate(role="user", content="What is the weather in Lisbon tomorrow?")
    search = SearchRequest(query="tea by the sea", k=5)
    return {
        "read: get_session": await timed(
            lambda: conversation.get_session(session_id=session.id, user_id="bench"), CALLS
        ),
        "write: append_message": await timed(
            lambda: conversation.append_message(
                session_id=session.id, user_id="bench", message=message
            ),
            CALLS,
        ),
        "search: rag.search": await timed(lambda: rag.search(request=search), CALLS),
    }


async def saga_p50(wiring_contracts: Any, sagas: SagaOrchestrator) -> float:
    latencies = []
    for i in range(SAGAS):
        started = time.perf_counter()
        saga_id = await sagas.start(CREATE_SESSION, {"user_id": f"saga{i}-{time.time_ns()}"})
        assert (await sagas.wait(saga_id, 60)).state == "succeeded"
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)


async def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        settings = Settings(data_dir=Path(root), jwt_secret="b" * 40, embedding_model="hashing-384")
        await migrations.upgrade_modules(DATABASES, settings)
        wiring = bind_modules(settings)
        local_saga = 0.0
        try:
            contracts = wiring.contracts
            await contracts.rag.ingest(
                documents=[
                    DocumentCreate(source=f"d{i}.md", text=f"tea by the sea number {i}")
                    for i in range(50)
                ]
            )
            local = await calls(contracts.conversation, contracts.rag)
            sagas = next(
                b.service for b in wiring.modules if isinstance(b.service, SagaOrchestrator)
            )
            local_saga = await saga_p50(contracts, sagas)
            env = {"BULKHEAD_MODULES": "tools,conversation"}
            async with (
                served_remotely("conversation", ConversationAPI, settings, env) as conversation,
                served_remotely("rag", RagAPI, settings) as rag,
                served_remotely(
                    "memory", MemoryAPI, settings, {"BULKHEAD_MODULES": "tools,conversation,memory"}
                ) as memory,
            ):
                remote = await calls(cast(ConversationAPI, conversation), cast(RagAPI, rag))
                split = SagaOrchestrator(
                    next(b.database for b in wiring.modules if b.module.name == "sagas"),
                    settings,
                    contracts.with_service("memory", memory),
                )
                remote_saga = await saga_p50(contracts, split)
                await split.stop_background()
        finally:
            await close_modules(wiring.modules, wiring.remotes)
    print(f"\nA module in-process vs over HTTP on loopback, {CALLS} sequential calls (SQLite)")
    print(f"{'call':<24} {'in-proc p50':>11} {'p99':>7} {'HTTP p50':>9} {'p99':>7} {'ratio':>7}")
    for name in local:
        a, b = local[name], remote[name]
        print(
            f"{name:<24} {p(a, 0.5):>11.2f} {p(a, 0.99):>7.2f} {p(b, 0.5):>9.2f} "
            f"{p(b, 0.99):>7.2f} {p(b, 0.5) / p(a, 0.5):>6.2f}x"
        )
    print(
        f"{'create-session saga':<24} {local_saga:>11.2f} {'':>7} {remote_saga:>9.2f} {'':>7} "
        f"{remote_saga / local_saga:>6.2f}x  (memory remote)"
    )


if __name__ == "__main__":
    asyncio.run(main())
