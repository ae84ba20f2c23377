from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.conversation.service import ConversationService
from contracts.conversation import ConversationAPI
from tests.fakes.tools import FakeTools
from tests.over_the_wire import MODES, contract_under_test


@pytest.fixture
def tools() -> FakeTools:
    return FakeTools({"web.search": {1, 2}})


@pytest.fixture(params=MODES)
async def conversation(
    request: pytest.FixtureRequest, settings: Settings, tools: FakeTools
) -> AsyncIterator[ConversationAPI]:
    """The conversation contract over a stand-in for tools: the service itself, and the
    same through its HTTP client against a real server of it."""
    database = open_module_database("conversation", settings)
    service = ConversationService(database, settings, tools=tools.as_api())
    async with contract_under_test(
        request.param, "conversation", service, database, settings
    ) as api:
        yield api
