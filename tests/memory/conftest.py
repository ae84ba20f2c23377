"""The memory service on a real database, a clock the test moves, and both working stores;
in-process and over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryAPI
from tests.fakes.conversation import FakeConversation
from tests.over_the_wire import MODES, contract_under_test


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


@pytest.fixture
def conversation() -> FakeConversation:
    return FakeConversation()


@pytest.fixture(params=MODES)
async def memory(
    request: pytest.FixtureRequest, settings: Settings, clock: Clock, conversation: FakeConversation
) -> AsyncIterator[MemoryAPI]:
    """The memory contract: the service itself, and the same through its HTTP client
    against a real server of it (the same clock and conversation stand-in behind it)."""
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=conversation.as_api(), clock=clock)
    async with contract_under_test(request.param, "memory", service, database, settings) as api:
        yield api
