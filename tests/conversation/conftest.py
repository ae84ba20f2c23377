from collections.abc import AsyncIterator
from typing import cast

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.conversation.service import ConversationService
from app.modules.tools.service import ToolsService
from contracts.conversation import ConversationAPI
from contracts.tools import ToolCreate, ToolVersionCreate
from tests.fakes.tools import FakeTools
from tests.over_the_wire import MODES, served_remotely


@pytest.fixture
def tools() -> FakeTools:
    return FakeTools({"web.search": {1, 2}})


@pytest.fixture(params=MODES)
async def conversation(
    request: pytest.FixtureRequest, settings: Settings, tools: FakeTools
) -> AsyncIterator[ConversationAPI]:
    """The conversation contract: the service over the stand-in for tools, and the same
    through its HTTP client against a server of conversation beside the real tools module,
    which holds the stand-in's tools (tests that look inside the stand-in are `in_process`)."""
    if request.param == "over-http":
        await _register_for_real(tools, settings)
        async with served_remotely(
            "conversation", ConversationAPI, settings, beside=["tools"]
        ) as client:
            yield cast(ConversationAPI, client)  # it has exactly the Protocol's methods
        return
    database = open_module_database("conversation", settings)
    yield ConversationService(database, settings, tools=tools.as_api())
    await database.dispose()


async def _register_for_real(tools: FakeTools, settings: Settings) -> None:
    """Each of the stand-in's tools, with as many versions, in the tools module's database."""
    database = open_module_database("tools", settings)
    try:
        service = ToolsService(database, settings)
        for name, versions in tools.tools.items():
            await service.register(
                tool=ToolCreate(name=name, source="print('{}')", schema={"type": "object"})
            )
            for _ in range(max(versions) - 1):
                await service.add_version(name=name, version=ToolVersionCreate())
    finally:
        await database.dispose()
