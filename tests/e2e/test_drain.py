"""SIGTERM under load: requests in flight finish, nothing acknowledged is lost, and a
restart continues. Users keep creating sessions (the saga across three modules) and
sending messages while the real server (two workers) is told to stop, with two tool runs
of two seconds surely in flight; those must be answered, and once the server starts again
on the same databases every answer it gave must still be true."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import httpx
import pytest

from .test_server import bulkhead, free_port, start_server

pytestmark = pytest.mark.e2e
USERS = 6


class User(threading.Thread):
    """Sends until the server stops answering; keeps what it was told was done."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__()
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.sessions: list[str] = []
        self.messages: dict[str, list[str]] = {}
        self.server_errors: list[str] = []

    def run(self) -> None:
        try:
            while True:
                made = self.client.post("/v1/sessions", json={"title": "drain"})
                self._check(made)
                if made.status_code != 201:
                    continue
                session = made.json()["id"]
                self.sessions.append(session)
                for i in range(3):
                    content = f"message {i} of {session}"
                    body = {"role": "user", "content": content}
                    sent = self.client.post(f"/v1/sessions/{session}/messages", json=body)
                    self._check(sent)
                    if sent.status_code == 201:
                        self.messages.setdefault(session, []).append(content)
        except httpx.TransportError:
            return  # the server stopped taking requests: what it answered must hold
        finally:
            self.client.close()

    def _check(self, answer: httpx.Response) -> None:
        if answer.status_code >= 500:
            self.server_errors.append(f"{answer.request.url.path}: {answer.text}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "var")}
    if request.param == "postgres":
        urls_file = tmp_path / "urls.json"
        urls_file.write_text(json.dumps(request.getfixturevalue("fresh_postgres_urls")))
        env["BULKHEAD_DATABASE_URLS_FILE"] = str(urls_file)
    bulkhead(env, "db", "upgrade")
    return env


def test_sigterm_under_load_loses_nothing_acknowledged(env: dict[str, str]) -> None:
    port = free_port()
    names = [f"drain-{uuid.uuid4().hex[:6]}-{i}" for i in range(USERS)]
    tokens = {n: bulkhead(env, "token", "create", "--user", n).strip() for n in names}
    running = start_server(env, 2, port)
    base = next(running)
    admin = bulkhead(env, "token", "create", "--user", "ops", "--admin").strip()
    tools = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=60)
    if not tools.get("/health").json()["components"]["tools.sandbox"]["ok"]:
        pytest.skip("the tool sandbox cannot run on this machine")
    assert tools.post("/v1/tools", json=SLEEPER).status_code == 201
    users = [User(base, tokens[n]) for n in names]
    for user in users:
        user.start()
    time.sleep(2)  # under load
    with ThreadPoolExecutor(2) as pool:
        # Runs that take 2 s each, surely in their sandboxes when the server is told to
        # stop: a server that drains finishes them.
        slow_runs = [pool.submit(_slow_run, tools) for _ in range(2)]
        time.sleep(0.5)
        running.close()  # SIGTERM, and wait for the server to finish what it took
        wait(slow_runs)
    tools.close()
    for user in users:
        user.join(timeout=60)
        assert not user.is_alive()
    assert [e for u in users for e in u.server_errors] == []
    assert [run.result() for run in slow_runs] == ["slept"] * len(slow_runs)
    assert sum(len(u.sessions) for u in users) > 0

    for base in start_server(env, 2, port):  # the same databases, started again
        with httpx.Client(base_url=base, timeout=60) as client:
            _until_no_saga_is_unfinished(client, admin)
            for name, user in zip(names, users, strict=True):
                headers = {"Authorization": f"Bearer {tokens[name]}"}
                listed = client.get("/v1/sessions", headers=headers, params={"limit": 200})
                ids = {s["id"] for s in listed.json()["items"]}
                assert set(user.sessions) <= ids  # every acknowledged session is there
                usage = client.get("/v1/usage", headers=headers).json()
                working = [
                    client.get(f"/v1/sessions/{s}/working-memory", headers=headers).status_code
                    for s in ids
                ]
                # Sessions cut off mid-saga were finished or undone after the restart.
                assert len(ids) == usage["active_sessions"] == working.count(200), name
                for session, sent in user.messages.items():
                    path = f"/v1/sessions/{session}/messages"
                    stored = client.get(path, headers=headers).json()["items"]
                    assert [m["content"] for m in stored] == sent


SLEEPER = {
    "name": "demo.sleep",
    "source": "import json, time\ntime.sleep(2)\nprint(json.dumps('slept'))",
    "schema": {"type": "object"},
}


def _slow_run(client: httpx.Client) -> str:
    answer = client.post("/v1/tools/demo.sleep/executions", json={"params": {}})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["result"])


def _until_no_saga_is_unfinished(client: httpx.Client, admin: str) -> None:
    headers = {"Authorization": f"Bearer {admin}"}
    deadline = time.monotonic() + 60
    while True:
        unfinished = [
            saga
            for state in ("running", "compensating")
            for saga in client.get(
                "/v1/admin/sagas", params={"state": state}, headers=headers
            ).json()["items"]
        ]
        if not unfinished:
            return
        assert time.monotonic() < deadline, unfinished
        time.sleep(0.5)
