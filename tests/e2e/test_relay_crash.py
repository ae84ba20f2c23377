"""Kill the relay mid-batch, start it again: every event is delivered, none applied twice,
and the analytics model agrees with the conversation module's own stats.

The events are written first, with no relay running; then `bulkhead events relay` (the
relay and consumers without the HTTP server) is started, killed with SIGKILL while it
works through them, and run again with `--drain` to the end.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.kernel.settings import Settings
from app.main import open_modules
from contracts.conversation import MessageCreate, SessionCreate

from .test_server import BULKHEAD, bulkhead

pytestmark = pytest.mark.e2e
SESSIONS, MESSAGES = 40, 10
EVENTS = SESSIONS * (1 + MESSAGES)


def applied(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "analytics.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM inbox").fetchone()[0])


def unpublished(data_dir: Path) -> tuple[int, int]:
    """Rows not yet published, and of those, how many a relay holds a lease on."""
    with sqlite3.connect(data_dir / "conversation.sqlite3") as db:
        counts: tuple[int, int] = db.execute(
            "SELECT count(*), count(lease_owner) FROM outbox WHERE published_at IS NULL"
        ).fetchone()
        return counts


def in_the_middle_of_a_batch(data_dir: Path) -> bool:
    """A fifth done, and some events of a claimed batch applied but not yet marked published
    (so the restarted relay sends those again)."""
    left, leased = unpublished(data_dir)
    done = applied(data_dir)
    return done >= EVENTS // 5 and leased > 0 and done > EVENTS - left


async def test_a_killed_relay_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(data_dir),
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        "BULKHEAD_EVENTS_LEASE": "1s",  # the killed relay's claim lapses quickly
        "BULKHEAD_EVENTS_BATCH_SIZE": "20",
    }
    bulkhead(env, "db", "upgrade")
    settings = Settings.from_env(env)
    async with open_modules(settings) as wiring:
        conversation = wiring.contracts.conversation
        for s in range(SESSIONS):
            session = await conversation.create_session(
                user_id=f"user-{s % 4}", session=SessionCreate()
            )
            for n in range(MESSAGES):
                await conversation.append_message(
                    session_id=session.id,
                    user_id=session.user_id,
                    message=MessageCreate(role="user", content=f"message {n} in session {s}"),
                )
    assert unpublished(data_dir)[0] == EVENTS

    relay = subprocess.Popen(
        [BULKHEAD, "events", "relay"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not in_the_middle_of_a_batch(data_dir):
        assert relay.poll() is None, relay.stderr.read().decode() if relay.stderr else ""
        assert time.monotonic() < deadline, "the relay made no progress"
        time.sleep(0.005)
    relay.send_signal(signal.SIGKILL)
    relay.wait(timeout=10)
    assert 0 < applied(data_dir) < EVENTS and unpublished(data_dir)[0] > 0  # work was left

    drained = subprocess.run(
        [BULKHEAD, "events", "relay", "--drain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert drained.returncode == 0, drained.stderr
    assert "every event is applied" in drained.stdout
    assert unpublished(data_dir) == (0, 0)
    assert applied(data_dir) == EVENTS

    since, until = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    async with open_modules(settings) as wiring:
        report = await wiring.contracts.analytics.report(since=since, until=until)
        stats = await wiring.contracts.conversation.stats(since=since, until=until)
    assert sum(d.sessions_created for d in report.days) == stats.sessions_created == SESSIONS
    assert sum(d.messages for d in report.days) == stats.messages == SESSIONS * MESSAGES
    assert sum(d.tokens for d in report.days) == stats.tokens
    (source,) = report.sources
    assert source.events_applied == EVENTS  # each applied once
