from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.conversation.service import ConversationService
from contracts.conversation import ConversationAPI
from tests.fakes.tools import FakeTools


@pytest.fixture
def tools() -> FakeTools:
    return FakeTools({"web.search": {1, 2}})


@pytest.fixture
async def conversation(settings: Settings, tools: FakeTools) -> AsyncIterator[ConversationAPI]:
    database = open_module_database("conversation", settings)
    yield ConversationService(database, settings, tools=tools.as_api())
    await database.dispose()
