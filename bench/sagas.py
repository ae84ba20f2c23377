"""Cross-module work: the create-session saga, and the dashboard's parallel reads.

For SQLite and PostgreSQL (modules on the machine's server, memory and RAG on the bundled
pgvector one, the saga store on its own database), in one run:
  direct     conversation.create_session -> memory.initialize -> billing.register_session
             called one after another, no saga: the baseline
  saga       the same three through the orchestrator: every step persisted in the saga
             store before the next (p50 ratio to direct)
  8 at once  sagas per second with 8 requests in flight
  DBOS       the same three calls with the same compensation as a DBOS Transact
             workflow (bench/dbos_saga.py), its system database on the same backend:
             p50/p99 sequential and workflows per second with 8 in flight
direct, saga and DBOS take turns run by run (DBOS launched throughout), so the ratios
compare them under the same load; on this shared machine absolute figures drift by
a third between runs.
  dashboard  every module's stats gathered in parallel vs the same calls one by one
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from app.composition.dashboard import dashboard, stats_sources
from app.kernel import migrations, provision
from app.kernel.app_factory import close_modules
from app.kernel.events import EventSystem
from app.kernel.settings import Settings
from app.main import DATABASES, bind_modules
from app.sagas import SagaOrchestrator
from app.sagas.create_session import CREATE_SESSION
from bench.dbos_saga import DbosRuntime
from bench.sizes import size
from contracts.conversation import SessionCreate
from contracts.record import Contracts
from tests.pgvector_server import PgvectorServer

RUNS = int(size("BENCH_SAGA_RUNS", "100", "5"))
POSTGRES_ADMIN_URL = os.environ.get(
    "BULKHEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
VECTOR = {"memory", "rag"}


async def measure(backend: str, settings: Settings, dbos_database_url: str) -> list[str]:
    wiring = bind_modules(settings)
    contracts = wiring.contracts
    sagas = next(b.service for b in wiring.modules if isinstance(b.service, SagaOrchestrator))
    events = EventSystem(settings, wiring.modules)  # not started: the dashboard reads its status
    dbos = DbosRuntime(contracts, dbos_database_url)
    try:
        await dbos.run("dbos-warm-up")
        # The three paths take turns, so a slow spell of the machine falls on all of them.
        direct, saga, by_dbos = [], [], []
        for i in range(RUNS):
            started = time.perf_counter()
            await _direct(contracts, f"direct{i}")
            direct.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            saga_id = await sagas.start(CREATE_SESSION, {"user_id": f"saga{i}", "title": None})
            assert (await sagas.wait(saga_id, 30)).state == "succeeded"
            saga.append((time.perf_counter() - started) * 1000)
            by_dbos.append(await dbos.run(f"dbos{i}"))
        per_second = await _concurrent(sagas, 8)
        dbos_per_second = await _dbos_concurrent(dbos, 8)
        since, until = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
        parallel, sequential = [], []
        for _ in range(20):
            started = time.perf_counter()
            board = await dashboard(contracts, since, until, timeout_s=10, events=events)
            parallel.append((time.perf_counter() - started) * 1000)
            assert all(p.ok for p in board.parts.values()), board.parts
            started = time.perf_counter()
            for part in stats_sources(contracts).values():
                await part.stats(since=since, until=until)
            sequential.append((time.perf_counter() - started) * 1000)
    finally:
        dbos.close()
        await sagas.stop_background()
        await close_modules(wiring.modules)
    d, s = statistics.median(direct), statistics.median(saga)
    b = statistics.median(by_dbos)
    p, q = statistics.median(parallel), statistics.median(sequential)
    return [
        f"{backend:<9} {'direct 3 calls':<24} {d:>8.2f} {p99(direct):>8.2f} {1:>8.2f}x",
        f"{backend:<9} {'create-session saga':<24} {s:>8.2f} {p99(saga):>8.2f} {s / d:>8.2f}x",
        f"{backend:<9} {'DBOS workflow':<24} {b:>8.2f} {p99(by_dbos):>8.2f} {b / d:>8.2f}x",
        f"{backend:<9} {'saga vs DBOS p50':<24} {'':>8} {'':>8} {s / b:>8.2f}x",
        f"{backend:<9} {'sagas/s, 8 in flight':<24} {per_second:>8.1f}",
        f"{backend:<9} {'DBOS/s, 8 in flight':<24} {dbos_per_second:>8.1f}",
        f"{backend:<9} {'stats one by one':<24} {q:>8.2f} {'':>8} {1:>8.2f}x",
        f"{backend:<9} {'dashboard (parallel)':<24} {p:>8.2f} {'':>8} {p / q:>8.2f}x",
    ]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def _direct(contracts: Contracts, user_id: str) -> None:
    session = await contracts.conversation.create_session(
        user_id=user_id, session=SessionCreate(), idempotency_key=f"{user_id}:1"
    )
    await contracts.memory.initialize(
        session_id=session.id, user_id=user_id, idempotency_key=f"{user_id}:2"
    )
    await contracts.billing.register_session(
        user_id=user_id, session_id=session.id, idempotency_key=f"{user_id}:3"
    )


async def _concurrent(sagas: SagaOrchestrator, in_flight: int) -> float:
    total = in_flight * 10

    async def one(i: int) -> None:
        saga_id = await sagas.start(CREATE_SESSION, {"user_id": f"c{i}-{uuid.uuid4().hex[:6]}"})
        assert (await sagas.wait(saga_id, 60)).state == "succeeded"

    started = time.perf_counter()
    for batch in range(0, total, in_flight):
        await asyncio.gather(*(one(i) for i in range(batch, batch + in_flight)))
    return total / (time.perf_counter() - started)


async def _dbos_concurrent(dbos: DbosRuntime, in_flight: int) -> float:
    total = in_flight * 10
    started = time.perf_counter()
    for batch in range(0, total, in_flight):
        await asyncio.gather(
            *(dbos.run(f"dc{i}-{uuid.uuid4().hex[:6]}") for i in range(batch, batch + in_flight))
        )
    return total / (time.perf_counter() - started)


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    lines = []
    with tempfile.TemporaryDirectory() as data_dir:
        base = Settings(data_dir=Path(data_dir), embedding_model="hashing-384")
        await migrations.upgrade_modules(DATABASES, base)
        lines += await measure("sqlite", base, f"sqlite:///{Path(data_dir) / 'dbos.sqlite3'}")
        server = PgvectorServer().start()
        prefix = f"bhbench_{secrets.token_hex(4)}"
        names = [d.name for d in DATABASES]
        urls: dict[str, str] = {}
        extensions = {d.name: d.postgres_extensions for d in DATABASES}
        servers = {
            POSTGRES_ADMIN_URL: [n for n in names if n not in VECTOR],
            server.admin_url: [n for n in names if n in VECTOR],
        }
        try:
            for admin_url, modules in servers.items():
                done = await provision.provision(
                    admin_url,
                    modules,
                    prefix=prefix,
                    output=Path(data_dir) / "urls.json",
                    extensions=extensions,
                )
                urls.update(done.urls)
            pg = replace(base, database_urls=urls)
            await migrations.upgrade_modules(DATABASES, pg)
            # DBOS creates its system database on the machine's server, as the saga store is.
            dbos_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{prefix}_dbos"
            lines += await measure("postgres", pg, dbos_url)
        finally:
            await _drop_database(POSTGRES_ADMIN_URL, f"{prefix}_dbos")
            for admin_url, modules in servers.items():
                await provision.drop(admin_url, modules, prefix=prefix)
            server.stop()
    print(f"\nCreate-session saga (ours and DBOS's) and dashboard, {RUNS} sequential runs")
    print(f"{'backend':<9} {'path':<24} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>9}")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
