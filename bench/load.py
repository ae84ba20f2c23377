"""Load: simulated users against `bulkhead serve --workers 4` on PostgreSQL (each module its
own database and role; rag and memory on the bundled pgvector server) with Redis for the
event bus and working memory. Loopback only, bounded in time.

Each user, until the time is up, picks what to do with a realistic weight: messages most,
then searches, sessions (through the saga), tool runs, memories and recall, context reads,
usage, and now and then a session deletion; two users delete their accounts near the end.
Then, once events have settled, every cross-module invariant must hold: per user, sessions
= billing's active sessions = sessions with a working memory; no saga unfinished; the
analytics totals = the modules' own counts; no dead letter; no answer >= 500.

  BENCH_LOAD_USERS (50), BENCH_LOAD_SECONDS (60); quick: 6 users for 6 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import redis

from app.kernel import provision
from app.kernel.auth import create_token
from app.main import DATABASES
from bench.sizes import size
from tests.conftest import POSTGRES_ADMIN_URL, VECTOR_MODULES, postgres_unavailable_reason
from tests.e2e.test_server import BULKHEAD, bulkhead, free_port
from tests.e2e.workload import analytics_settled
from tests.pgvector_server import PgvectorServer

USERS = int(size("BENCH_LOAD_USERS", "50", "6"))
SECONDS = float(size("BENCH_LOAD_SECONDS", "60", "6"))
WORKERS = 4
SECRET = "bench-load-" + "s" * 40
REDIS_URL = os.environ.get("BULKHEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ACTIONS = {  # weight of each thing a user does
    "message": 35,
    "search": 12,
    "create_session": 8,
    "tool_run": 8,
    "remember": 8,
    "recall": 8,
    "context": 8,
    "usage": 5,
    "working_memory": 5,
    "delete_session": 3,
}
LEAVERS = 2  # users who delete their account at 80% of the time


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )

    def record(self, route: str, started: float, answer: httpx.Response) -> None:
        self.latencies[route].append((time.perf_counter() - started) * 1000)
        self.statuses[route][answer.status_code] += 1

    @property
    def server_errors(self) -> int:
        return sum(n for by in self.statuses.values() for s, n in by.items() if s >= 500)


def _headers(user: str, admin: bool = False) -> dict[str, str]:
    token = create_token(SECRET, user, admin=admin, ttl=timedelta(hours=2))
    return {"Authorization": f"Bearer {token}"}


class User:
    def __init__(self, name: str, client: httpx.AsyncClient, results: Results) -> None:
        self.name = name
        self.client = client
        self.results = results
        self.headers = _headers(name)
        self.sessions: list[str] = []
        self.messages: dict[str, int] = defaultdict(int)  # accepted, per session
        # Messages of its deleted sessions: gone from conversation's own count, still in
        # the analytics history (activity that happened); an account deletion takes the
        # user's history out of both.
        self.deleted_messages = 0
        self.rng = random.Random(name)

    async def call(self, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        answer = await self.client.request(method, path, headers=self.headers, **kwargs)
        self.results.record(route, started, answer)
        return answer

    async def run(self, until: float, leave_at: float | None) -> None:
        while time.monotonic() < until:
            if leave_at is not None and time.monotonic() >= leave_at:
                await self.call("DELETE /v1/users/me", "DELETE", "/v1/users/me")
                return
            action = self.rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
            await getattr(self, action)()
            await asyncio.sleep(self.rng.uniform(0, 0.2))  # a user reads before acting

    async def session(self) -> str:
        if not self.sessions:
            await self.create_session()
        return self.rng.choice(self.sessions) if self.sessions else ""

    async def create_session(self) -> None:
        made = await self.call("POST /v1/sessions", "POST", "/v1/sessions", json={"title": "t"})
        if made.status_code == 201:
            self.sessions.append(made.json()["id"])

    async def message(self) -> None:
        if session := await self.session():
            body = {"role": "user", "content": f"I prefer trains; note {self.rng.random()}"}
            path = f"/v1/sessions/{session}/messages"
            sent = await self.call("POST /v1/sessions/{id}/messages", "POST", path, json=body)
            self.messages[session] += sent.status_code == 201

    async def search(self) -> None:
        await self.call("POST /v1/search", "POST", "/v1/search", json={"query": "tea by the sea"})

    async def tool_run(self) -> None:
        body = {"params": {"expression": "6 * 7"}}
        path = "/v1/tools/math.evaluate/executions"
        await self.call("POST /v1/tools/{name}/executions", "POST", path, json=body)

    async def remember(self) -> None:
        body = {"content": f"{self.name} likes tea {self.rng.randint(0, 9)}", "importance": 0.5}
        await self.call("POST /v1/memories", "POST", "/v1/memories", json=body)

    async def recall(self) -> None:
        search = {"query": "tea"}
        await self.call("POST /v1/memories/search", "POST", "/v1/memories/search", json=search)

    async def context(self) -> None:
        if session := await self.session():
            path = f"/v1/sessions/{session}/context"
            await self.call("GET /v1/sessions/{id}/context", "GET", path)

    async def usage(self) -> None:
        await self.call("GET /v1/usage", "GET", "/v1/usage")

    async def working_memory(self) -> None:
        if session := await self.session():
            path = f"/v1/sessions/{session}/working-memory"
            await self.call("GET /v1/sessions/{id}/working-memory", "GET", path)

    async def delete_session(self) -> None:
        if len(self.sessions) > 1:
            session = self.sessions.pop(0)
            path = f"/v1/sessions/{session}"
            if (await self.call("DELETE /v1/sessions/{id}", "DELETE", path)).status_code == 204:
                self.deleted_messages += self.messages.pop(session, 0)


def _rss_mb(pid: int) -> float:
    """The server's memory: the process and its workers (resident set)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        pending += [int(c) for c in children]
    return total / 1024


def _invariants(base: str, users: list[User], leavers: list[User]) -> dict[str, bool]:
    """After the run, once events have settled (a blocking client: nothing else runs)."""
    admin = httpx.Client(base_url=base, headers=_headers("ops", admin=True), timeout=60)
    checks: dict[str, bool] = {}
    deadline = time.monotonic() + 90
    unfinished: list[Any] = []
    while time.monotonic() < deadline:
        unfinished = [
            saga
            for state in ("running", "compensating")
            for saga in admin.get("/v1/admin/sagas", params={"state": state}).json()["items"]
        ]
        if not unfinished:
            break
        time.sleep(0.5)
    checks["no saga unfinished"] = not unfinished
    deleted = sum(u.deleted_messages for u in users if u not in leavers)
    settled = analytics_settled(admin, deleted_messages=deleted)
    checks["analytics = the modules' own counts"] = settled["analytics"] == settled["owners"]
    if settled["analytics"] != settled["owners"]:
        print(f"analytics {settled['analytics']} (less deleted messages)")
        print(f"owners    {settled['owners']}")
    letters = admin.get("/v1/admin/events/dead-letters")
    checks["no dead letter"] = letters.status_code == 200 and letters.json() == []
    agree = True
    with httpx.Client(base_url=base, timeout=60) as client:
        for user in users:
            if user in leavers:
                continue
            sessions = client.get("/v1/sessions", headers=user.headers, params={"limit": 200})
            ids = [s["id"] for s in sessions.json()["items"]]
            usage = client.get("/v1/usage", headers=user.headers).json()
            working = [
                client.get(f"/v1/sessions/{s}/working-memory", headers=user.headers).status_code
                for s in ids
            ]
            agree &= len(ids) == usage["active_sessions"] == working.count(200)
    checks["sessions = billing usage = working memories"] = agree
    left = True
    with httpx.Client(base_url=base, timeout=60) as client:
        for user in leavers:  # a new token (the old ones are revoked) sees nothing left
            fresh = _headers(user.name)
            left &= client.get("/v1/sessions", headers=fresh).json()["items"] == []
            left &= client.get("/v1/memories", headers=fresh).json()["items"] == []
    checks["a deleted account has nothing left"] = left
    admin.close()
    return checks


async def main() -> None:
    if reason := postgres_unavailable_reason():
        print(f"\nLoad test skipped: {reason}")
        return
    prefix = f"bhload_{secrets.token_hex(4)}"
    redis_prefix = f"bhload-{secrets.token_hex(4)}"
    vector = PgvectorServer().start()
    servers = {POSTGRES_ADMIN_URL: [d.name for d in DATABASES if d.name not in VECTOR_MODULES],
               vector.admin_url: list(VECTOR_MODULES)}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        env = {
            "PATH": os.environ["PATH"],
            "BULKHEAD_DATA_DIR": str(root / "var"),
            "BULKHEAD_JWT_SECRET": SECRET,
            "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
            "BULKHEAD_DATABASE_URLS_FILE": str(root / "urls.json"),
            "BULKHEAD_BUS_URL": REDIS_URL,
            "BULKHEAD_REDIS_URL": REDIS_URL,
            "BULKHEAD_REDIS_KEY_PREFIX": redis_prefix,
        }
        try:
            for admin_url, modules in servers.items():
                args = [a for m in modules for a in ("--module", m)]
                before = {k: v for k, v in env.items() if k != "BULKHEAD_DATABASE_URLS_FILE"}
                bulkhead(before, "db", "provision", "--admin-url", admin_url, "--prefix", prefix,
                         "--output", str(root / "urls.json"), *args)  # fmt: skip
            bulkhead(env, "db", "upgrade")
            await _run(env, root)
        finally:
            for admin_url, modules in servers.items():
                await provision.drop(admin_url, modules, prefix=prefix)
            vector.stop()
            keys = redis.Redis.from_url(REDIS_URL)
            for key in keys.scan_iter(f"{redis_prefix}*"):
                keys.delete(key)


async def _run(env: dict[str, str], root: Path) -> None:
    port = free_port()
    with (root / "server.log").open("w") as log:
        process = _serve(env, port, log)
        base = f"http://127.0.0.1:{port}"
        try:
            await _until_up(base, process)
            results = Results()
            limits = httpx.Limits(max_connections=USERS + 10)
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
                documents = [
                    {"source": f"d{i}.md", "text": f"tea by the sea, part {i}"} for i in range(20)
                ]
                admin = _headers("ops", admin=True)
                for document in documents:
                    await client.post("/v1/documents", json=document, headers=admin)
                rss_start = _rss_mb(process.pid)
                users = [User(f"user{i}", client, results) for i in range(USERS)]
                leavers = users[:LEAVERS] if USERS >= 10 else []
                started = time.monotonic()
                until = started + SECONDS
                leave_at = started + 0.8 * SECONDS
                await asyncio.gather(
                    *(u.run(until, leave_at if u in leavers else None) for u in users)
                )
                elapsed = time.monotonic() - started
                rss_end = _rss_mb(process.pid)
            checks = await asyncio.to_thread(_invariants, base, users, leavers)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    _report(results, elapsed, rss_start, rss_end, checks)
    failed = [name for name, ok in checks.items() if not ok]
    if results.server_errors or failed:
        raise SystemExit(f"load test: {results.server_errors} answers >= 500; failed: {failed}")


def _serve(env: dict[str, str], port: int, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [BULKHEAD, "serve", "--port", str(port), "--workers", str(WORKERS)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


async def _until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited"
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not become ready")


def _report(
    results: Results, elapsed: float, rss_start: float, rss_end: float, checks: dict[str, bool]
) -> None:
    total = sum(len(v) for v in results.latencies.values())
    print(
        f"\nLoad: {USERS} users for {elapsed:.0f} s against {WORKERS} workers, PostgreSQL + Redis"
    )
    print(f"{'route':<40} {'count':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for route in sorted(results.latencies):
        ordered = sorted(results.latencies[route])
        p50, p99 = (
            ordered[len(ordered) // 2],
            ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))],
        )
        statuses = json.dumps(dict(sorted(results.statuses[route].items())))
        print(
            f"{route:<40} {len(ordered):>6} {len(ordered) / elapsed:>7.1f} {p50:>8.1f} {p99:>8.1f}  {statuses}"
        )
    print(f"{'all':<40} {total:>6} {total / elapsed:>7.1f}")
    print(f"answers >= 500: {results.server_errors}")
    print(
        f"server memory (RSS, all workers): {rss_start:.0f} MB at the start, {rss_end:.0f} MB at the end"
    )
    for name, ok in checks.items():
        print(f"{'holds' if ok else 'BROKEN'}: {name}")


if __name__ == "__main__":
    asyncio.run(main())
