"""The memory service on a real database, a clock the test moves, and both working stores."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_sync

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from tests.fakes.conversation import FakeConversation

REDIS_URL = os.environ.get("BULKHEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Clock:
    """Starts at the real now (Redis also expires keys on its own clock) and moves only
    when the test says so."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis_sync.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis_sync.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is removed afterwards."""
    prefix = f"bhtest-{secrets.token_hex(4)}"
    yield prefix
    client = redis_sync.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def conversation() -> FakeConversation:
    return FakeConversation()


@pytest.fixture
async def memory(
    settings: Settings, clock: Clock, conversation: FakeConversation
) -> AsyncIterator[object]:
    database = open_module_database("memory", settings)
    service = REGISTRY["memory"].service(database, settings, conversation=conversation, clock=clock)
    yield service
    await service.close()
    await database.dispose()
