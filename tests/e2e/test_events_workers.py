"""Production's shape: PostgreSQL, two workers, the event bus and working memory on Redis.
Both workers relay and both consume; every event is still applied once."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from .test_server import bulkhead, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


def test_two_workers_on_redis_streams_apply_each_event_once(
    tmp_path: Path, postgres_urls: dict[str, str], redis_url: str, redis_prefix: str
) -> None:
    from tests.conftest import empty_postgres_tables, run_in_own_loop

    run_in_own_loop(empty_postgres_tables(postgres_urls))
    urls_file = tmp_path / "urls.json"
    urls_file.write_text(json.dumps(postgres_urls))
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(tmp_path / "var"),
        "BULKHEAD_DATABASE_URLS_FILE": str(urls_file),
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        "BULKHEAD_BUS_URL": redis_url,
        "BULKHEAD_REDIS_URL": redis_url,
        "BULKHEAD_REDIS_KEY_PREFIX": redis_prefix,
    }
    bulkhead(env, "db", "upgrade")
    user = bulkhead(env, "token", "create", "--user", "alice").strip()
    admin = {
        "Authorization": f"Bearer {bulkhead(env, 'token', 'create', '--user', 'ops', '--admin').strip()}"
    }
    for base in start_server(env, workers=2):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {user}"}) as client:
            sessions = [client.post("/v1/sessions", json={}).json()["id"] for _ in range(6)]
            for session in sessions:
                for n in range(4):
                    sent = client.post(
                        f"/v1/sessions/{session}/messages",
                        json={"role": "user", "content": f"I'm on message {n}"},
                    )
                    assert sent.status_code == 201
            deadline = time.monotonic() + 60
            while True:
                status = client.get("/v1/admin/events", headers=admin).json()
                if status["consistency_lag_s"] == 0 and not any(
                    o["unpublished"] for o in status["outboxes"]
                ):
                    break
                assert time.monotonic() < deadline, status
                time.sleep(0.1)
            assert status["bus"] == "redis-streams"
            report = client.get("/v1/analytics/report?range=1d", headers=admin).json()
            assert sum(d["sessions_created"] for d in report["days"]) == 6
            assert sum(d["messages"] for d in report["days"]) == 24
            conversation = next(s for s in report["sources"] if s["source"] == "conversation")
            assert conversation["events_applied"] == 6 + 24
            working = client.get(f"/v1/sessions/{sessions[0]}/working-memory").json()
            turns = [i["content"] for i in working["items"] if i["kind"] == "turn"]
            # Two consumers share the group and may apply a session's messages out of
            # order; working memory reads them back in the order they were written.
            assert turns == [f"I'm on message {n}" for n in range(4)]
