"""Append-message cost: through the contract vs the same writes done directly, and over HTTP.

For each backend (SQLite always; PostgreSQL when reachable) in one run:
  direct    the same two statements the service issues (bump the session's seq, insert the
            message) with SQLAlchemy Core in one transaction: the baseline
  contract  ConversationAPI.append_message in-process (validation, tokenizer, ORM, DTO)
  http      POST /v1/sessions/{id}/messages to a real `bulkhead serve`, 16 concurrent clients
Ratios are to the direct baseline of the same backend, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import insert, update

from app.kernel import migrations, provision
from app.kernel.auth import create_token
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.conversation.models import MessageRow, SessionRow  # the baseline needs the table
from app.modules.conversation.service import ConversationService
from app.sagas import SAGA_STORE
from bench.sizes import size
from contracts.conversation import ConversationAPI, MessageCreate, SessionCreate
from tests.fakes.tools import FakeTools

APPENDS = int(size("BENCH_APPENDS", "1000", "20"))
HTTP_CLIENTS = 16
HTTP_REQUESTS_PER_CLIENT = int(size("BENCH_HTTP_PER_CLIENT", "60", "3"))
POSTGRES_ADMIN_URL = os.environ.get(
    "BULKHEAD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SECRET = secrets.token_urlsafe(40)
CONTENT = "What is the weather in Lisbon tomorrow, and should I pack an umbrella?"


@dataclass
class Result:
    backend: str
    path: str
    ops: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


async def timed(backend: str, path: str, ops: int, call: Callable[[], Awaitable[object]]) -> Result:
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(ops):
        t0 = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - t0) * 1000)
    return Result(backend, path, ops, time.perf_counter() - started, latencies)


async def in_process(backend: str, settings: Settings) -> list[Result]:
    database = open_module_database("conversation", settings)
    service: ConversationAPI = ConversationService(database, settings, tools=FakeTools().as_api())
    try:
        contract_session = await service.create_session(user_id="bench", session=SessionCreate())
        direct_session = await service.create_session(user_id="bench", session=SessionCreate())
        message = MessageCreate(role="user", content=CONTENT)

        async def via_contract() -> object:
            return await service.append_message(
                session_id=contract_session.id, user_id="bench", message=message
            )

        async def direct() -> object:
            async with database.transaction() as tx:
                seq = await tx.scalar(
                    update(SessionRow)
                    .where(SessionRow.id == direct_session.id)
                    .values(message_count=SessionRow.message_count + 1)
                    .returning(SessionRow.message_count)
                )
                await tx.execute(
                    insert(MessageRow).values(
                        id=uuid.uuid4(),
                        session_id=direct_session.id,
                        seq=seq,
                        role="user",
                        content=CONTENT,
                        tokens=16,
                        created_at=datetime.now(UTC),
                    )
                )
            return seq

        await timed(backend, "warm-up", 50, direct)
        await timed(backend, "warm-up", 50, via_contract)
        return [
            await timed(backend, "direct SQLAlchemy", APPENDS, direct),
            await timed(backend, "contract", APPENDS, via_contract),
        ]
    finally:
        await database.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def open_sessions(settings: Settings, user_id: str, count: int) -> list[str]:
    """Sessions made in-process before the server starts: the HTTP part measures appends,
    and creating a session over HTTP is a saga needing memory, which this bench leaves out."""
    database = open_module_database("conversation", settings)
    try:
        service = ConversationService(database, settings, tools=FakeTools().as_api())
        made = [
            await service.create_session(user_id=user_id, session=SessionCreate())
            for _ in range(count)
        ]
        return [str(s.id) for s in made]
    finally:
        await database.dispose()


async def over_http(backend: str, settings: Settings, env: dict[str, str]) -> Result:
    sessions = await open_sessions(settings, "bench-http", HTTP_CLIENTS)
    port = free_port()
    bulkhead = str(Path(sys.executable).parent / "bulkhead")
    server = await asyncio.create_subprocess_exec(
        bulkhead,
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    token = create_token(SECRET, "bench-http", ttl=timedelta(hours=1))
    try:
        async with httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=HTTP_CLIENTS),
        ) as client:
            for _ in range(150):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            latencies: list[float] = []

            async def one_client(session: str) -> None:
                for _ in range(HTTP_REQUESTS_PER_CLIENT):
                    t0 = time.perf_counter()
                    response = await client.post(
                        f"/v1/sessions/{session}/messages",
                        json={"role": "user", "content": CONTENT},
                    )
                    latencies.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(one_client(session) for session in sessions))
            seconds = time.perf_counter() - started
        return Result(backend, f"HTTP, {HTTP_CLIENTS} clients", len(latencies), seconds, latencies)
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=20)


MODULES = [
    "tools",
    "conversation",
    "billing",
]  # what this benchmark's server runs (conversation asks tools)


async def upgrade_all(settings: Settings) -> None:
    # The saga store too: every server checks token revocations there.
    await migrations.upgrade_modules([*(REGISTRY[m] for m in MODULES), SAGA_STORE], settings)


async def run_backend(backend: str, settings: Settings, env: dict[str, str]) -> list[Result]:
    await upgrade_all(settings)
    return [*await in_process(backend, settings), await over_http(backend, settings, env)]


async def postgres_reachable() -> bool:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def render(results: list[Result]) -> str:
    header = f"{'backend':<10} {'path':<20} {'ops':>6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10}"
    lines = [header, "-" * len(header)]
    baselines = {r.backend: r for r in results if r.path == "direct SQLAlchemy"}
    for r in results:
        ratio = r.percentile(50) / baselines[r.backend].percentile(50)
        lines.append(
            f"{r.backend:<10} {r.path:<20} {r.ops:>6} {r.throughput:>9.0f} "
            f"{r.percentile(50):>8.2f} {r.percentile(99):>8.2f} {ratio:>9.2f}x"
        )
    return "\n".join(lines)


async def main() -> None:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            "PATH": os.environ["PATH"],
            "BULKHEAD_DATA_DIR": data_dir,
            "BULKHEAD_JWT_SECRET": SECRET,
            "BULKHEAD_LOG_LEVEL": "WARNING",
            "BULKHEAD_MODULES": ",".join(MODULES),
        }
        settings = Settings(data_dir=Path(data_dir), jwt_secret=SECRET)
        results += await run_backend("sqlite", settings, env)
        if await postgres_reachable():
            prefix = f"bhbench_{secrets.token_hex(4)}"
            urls_file = Path(data_dir) / "pg-urls.json"
            done = await provision.provision(
                POSTGRES_ADMIN_URL, [*MODULES, SAGA_STORE.name], prefix=prefix, output=urls_file
            )
            urls = done.urls
            try:
                pg_env = {**env, "BULKHEAD_DATABASE_URLS_FILE": str(urls_file)}
                results += await run_backend(
                    "postgres", replace(settings, database_urls=urls), pg_env
                )
            finally:
                await provision.drop(POSTGRES_ADMIN_URL, [*MODULES, SAGA_STORE.name], prefix=prefix)
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: SQLite only")
    print(render(results))
