"""The memory service on a real database, a clock the test moves, and both working stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.service import MemoryService
from tests.fakes.conversation import FakeConversation


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


@pytest.fixture
async def memory(
    settings: Settings, clock: Clock, conversation: FakeConversation
) -> AsyncIterator[object]:
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=conversation.as_api(), clock=clock)
    yield service
    await service.close()
    await database.dispose()
