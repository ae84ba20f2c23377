"""The crash matrix: kill the real server at every crash point of the session sagas,
restart it, and check that all three modules agree: every effect, or none.

Each case runs `bulkhead serve` with `BULKHEAD_SAGA_CRASH_AT` set to one point, makes the
request that reaches it (the process ends there with `os._exit`), starts the server again
without the fault, waits for the saga to finish, and reads the end state over HTTP from
conversation, memory and billing.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.kernel.rpc.service_tokens import create_key_pair
from app.sagas.crash_points import CRASH_EXIT_CODE

from .test_server import BULKHEAD, bulkhead, free_port, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

FORWARD = ("create_conversation", "initialize_memory", "register_billing")
CREATE_POINTS = [f"create_session:{s}:{w}_action" for s in FORWARD for w in ("before", "after")]
# Reached when billing refuses (quota 0): the undoing of memory, then conversation.
UNDO_POINTS = [
    f"create_session:{s}:{w}_compensation"
    for s in ("initialize_memory", "create_conversation")
    for w in ("before", "after")
]
DELETE_POINTS = [
    f"delete_session:{s}:{w}_action"
    for s in ("release_billing", "cleanup_memory", "delete_conversation")
    for w in ("before", "after")
]


class Server:
    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [BULKHEAD, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited while starting"
            try:
                httpx.get(f"{self.base}/health", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail("server did not start within 30 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def env(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[dict[str, str]]:
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(tmp_path / "var"),
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        # Working memory must outlive the process, as in production: in-process it dies
        # with the crash, which no saga can bring back.
        "BULKHEAD_REDIS_URL": redis_url,
        "BULKHEAD_REDIS_KEY_PREFIX": redis_prefix,
        "BULKHEAD_SAGA_LEASE": "1s",  # a dead process's sagas are taken over quickly
        "BULKHEAD_SAGA_BACKOFF_MS": "10",
    }
    bulkhead(env, "db", "upgrade")
    yield env


def tokens(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    user = bulkhead(env, "token", "create", "--user", "alice").strip()
    admin = bulkhead(env, "token", "create", "--user", "ops", "--admin").strip()
    return {"Authorization": f"Bearer {user}"}, {"Authorization": f"Bearer {admin}"}


def crash_during(
    env: dict[str, str],
    point: str,
    method: str,
    path: str,
    port: int | None = None,
    **kwargs: object,
) -> None:
    server = Server({**env, "BULKHEAD_SAGA_CRASH_AT": point}, port)
    try:
        with pytest.raises(httpx.TransportError):  # the process died mid-request
            httpx.request(method, f"{server.base}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]  # kwargs are httpx's own
        assert server.process.wait(timeout=10) == CRASH_EXIT_CODE
    finally:
        server.stop()


def end_state(base: str, user: dict[str, str], admin: dict[str, str]) -> tuple[int, int, int, int]:
    """After every saga has finished: (sessions, working memories, active billed, ever billed)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pending = [
            s
            for state in ("running", "compensating")
            for s in httpx.get(f"{base}/v1/admin/sagas?state={state}", headers=admin).json()[
                "items"
            ]
        ]
        if not pending:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"sagas still unfinished: {pending}")
    stuck = httpx.get(f"{base}/v1/admin/sagas?state=needs_attention", headers=admin).json()
    assert stuck["items"] == []
    sessions = httpx.get(f"{base}/v1/sessions", headers=user).json()["items"]
    working = sum(
        httpx.get(f"{base}/v1/sessions/{s['id']}/working-memory", headers=user).status_code == 200
        for s in sessions
    )
    usage = httpx.get(f"{base}/v1/usage", headers=user).json()
    return len(sessions), working, usage["active_sessions"], usage["sessions_total"]


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_create_session_crash_is_finished_after_restart(env: dict[str, str], point: str) -> None:
    user, admin = tokens(env)
    crash_during(env, point, "POST", "/v1/sessions", json={"title": "t"}, headers=user)
    server = Server(env)
    try:
        # Nothing failed before the crash: the saga goes forward to the end.
        assert end_state(server.base, user, admin) == (1, 1, 1, 1)
    finally:
        server.stop()


@pytest.mark.parametrize("point", UNDO_POINTS)
def test_crash_while_undoing_is_undone_after_restart(env: dict[str, str], point: str) -> None:
    user, admin = tokens(env)
    server = Server(env)
    try:
        quota = httpx.put(
            f"{server.base}/v1/admin/quotas/alice", json={"max_active_sessions": 0}, headers=admin
        )
        assert quota.status_code == 200
    finally:
        server.stop()
    crash_during(env, point, "POST", "/v1/sessions", json={"title": "t"}, headers=user)
    server = Server(env)
    try:
        assert end_state(server.base, user, admin) == (0, 0, 0, 0)
    finally:
        server.stop()


@pytest.mark.parametrize("point", DELETE_POINTS)
def test_delete_session_crash_is_finished_after_restart(env: dict[str, str], point: str) -> None:
    user, admin = tokens(env)
    server = Server(env)
    try:
        created = httpx.post(f"{server.base}/v1/sessions", json={}, headers=user, timeout=30)
        assert created.status_code == 201
    finally:
        server.stop()
    path = f"/v1/sessions/{created.json()['id']}"
    crash_during(env, point, "DELETE", path, headers=user)
    server = Server(env)
    try:
        assert end_state(server.base, user, admin) == (0, 0, 0, 1)
        again = httpx.delete(f"{server.base}{path}", headers=user)
        assert again.status_code == 204  # deleting again is still fine
    finally:
        server.stop()


@pytest.mark.parametrize(
    "point",
    [
        "create_session:initialize_memory:after_action",
        "create_session:register_billing:before_action",
    ],
)
def test_an_edge_killed_mid_saga_is_resumed_by_its_restart_over_a_remote_memory(
    env: dict[str, str], tmp_path: Path, redis_url: str, point: str
) -> None:
    """Split: memory in its own process, which lives on; the edge running the saga store
    dies at `point`, and the edge started again on its address finishes the saga."""
    keys = tmp_path / "keys"
    for service in ("edge", "memory"):
        create_key_pair(keys, service)
    edge_port, memory_port = free_port(), free_port()
    edge_url = f"http://127.0.0.1:{edge_port}"
    split = {"BULKHEAD_KEYS_DIR": str(keys), "BULKHEAD_BUS_URL": redis_url}
    memory_env = {
        **env,
        **split,
        "BULKHEAD_DATA_DIR": str(tmp_path / "memory"),
        "BULKHEAD_SERVICE_NAME": "memory",
        "BULKHEAD_MODULES": "memory",
        "BULKHEAD_REMOTE_CONVERSATION": edge_url,  # whose session a working memory is
        "BULKHEAD_REMOTE_SAGAS": edge_url,
    }
    bulkhead(memory_env, "db", "upgrade")
    edge_env = {
        **env,
        **split,
        "BULKHEAD_SERVICE_NAME": "edge",
        "BULKHEAD_REMOTE_MEMORY": f"http://127.0.0.1:{memory_port}",
    }
    user, admin = tokens(env)
    for _ in start_server(memory_env, 1, memory_port):
        crash_during(
            edge_env, point, "POST", "/v1/sessions", edge_port, json={"title": "t"}, headers=user
        )
        edge = Server(edge_env, edge_port)
        try:
            assert end_state(edge.base, user, admin) == (1, 1, 1, 1)
        finally:
            edge.stop()
