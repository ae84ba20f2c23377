"""The real server process (`bulkhead serve`), driven over HTTP."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

pytestmark = pytest.mark.e2e
BULKHEAD = str(Path(sys.executable).parent / "bulkhead")
# Each worker imports the whole app (about 4 s alone on a 2-core machine, several times that
# while the other test worker runs its own servers).
HEALTHY_WITHIN_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bulkhead(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [BULKHEAD, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def start_server(
    env: dict[str, str], workers: int, port: int | None = None
) -> Generator[str, None, None]:
    port = port or free_port()
    # Its output goes to a file, not a pipe: a pipe nobody reads fills up after a few
    # hundred requests' access logs, and the server then blocks writing its next line.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [BULKHEAD, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + HEALTHY_WITHIN_S
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
                assert process.poll() is None, _read(log)
            else:
                pytest.fail(f"not healthy within {HEALTHY_WITHIN_S} s: {_read(log)}")
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def _read(log: IO[str]) -> str:
    log.seek(0)
    return log.read()[-5000:]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "var")}
    workers = 1
    if request.param == "postgres":
        urls_file = tmp_path / "urls.json"
        urls_file.write_text(json.dumps(request.getfixturevalue("fresh_postgres_urls")))
        env["BULKHEAD_DATABASE_URLS_FILE"] = str(urls_file)
        workers = 2
    bulkhead(env, "db", "upgrade")
    yield from ((base, env) for base in start_server(env, workers))


def test_server_serves_a_conversation_over_http(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    user = f"e2e-{uuid.uuid4().hex[:8]}"
    token = bulkhead(env, "token", "create", "--user", user).strip()
    admin = bulkhead(env, "token", "create", "--user", "ops", "--admin").strip()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        session = client.post("/v1/sessions", json={"title": "e2e"})
        assert session.status_code == 201
        session_id = session.json()["id"]
        for i in range(3):
            sent = client.post(
                f"/v1/sessions/{session_id}/messages", json={"role": "user", "content": f"hi {i}"}
            )
            assert sent.status_code == 201
        messages = client.get(f"/v1/sessions/{session_id}/messages").json()["items"]
        assert [m["content"] for m in messages] == ["hi 0", "hi 1", "hi 2"]
        assert client.get("/v1/conversation/stats").status_code == 403
        stats = client.get("/v1/conversation/stats", headers={"Authorization": f"Bearer {admin}"})
        assert stats.status_code == 200 and stats.json()["messages"] >= 3
        assert (
            client.get("/v1/sessions", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        assert client.get("/schema/swagger").status_code == 200


def test_workers_slower_to_start_than_uvicorns_default_check_are_waited_for(
    tmp_path: Path,
) -> None:
    """A worker answers the supervisor's pings only after its interpreter starts; one that
    takes longer than uvicorn's default 5 s (a busy machine) must not be killed and
    restarted in a loop. Each worker's interpreter here sleeps 12 s before it starts:
    longer than the supervisor, pinging one worker after the other, ever lets one go
    unanswered (10 s)."""
    slow = tmp_path / "slow_start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import sys, time\nif '--multiprocessing-fork' in sys.argv:\n    time.sleep(12)\n"
    )
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "var")}
    bulkhead(env, "db", "upgrade")
    for base in start_server({**env, "PYTHONPATH": str(slow)}, workers=2):
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200


def test_server_refuses_to_start_on_a_bad_setting(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(tmp_path),
        "BULKHEAD_JWT_SECRET": "x",
    }
    result = subprocess.run(
        [BULKHEAD, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "BULKHEAD_JWT_SECRET: must be at least 32 characters" in result.stderr
    assert "Traceback" not in result.stderr


async def test_health_answers_while_four_sandboxes_run(
    server: tuple[str, dict[str, str]],
) -> None:
    base, env = server
    admin = bulkhead(env, "token", "create", "--user", "ops", "--admin").strip()
    sleeper = {
        "name": "demo.sleep",
        "source": "import json, time\ntime.sleep(2)\nprint(json.dumps('slept'))",
        "schema": {"type": "object"},
    }
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        if not (await client.get("/health")).json()["components"]["tools.sandbox"]["ok"]:
            pytest.skip("the tool sandbox cannot run on this machine")
        assert (await client.post("/v1/tools", json=sleeper)).status_code == 201
        runs = [
            asyncio.create_task(client.post("/v1/tools/demo.sleep/executions", json={"params": {}}))
            for _ in range(4)
        ]
        await asyncio.sleep(0.5)  # all four are in their sandboxes now
        health = await client.get("/health")
        assert health.status_code == 200
        assert not any(run.done() for run in runs)  # it answered while all four ran
        answers = await asyncio.gather(*runs)
    assert [a.json()["result"] for a in answers] == ["slept"] * 4
