from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from contracts.conversation import ConversationAPI


@pytest.fixture
async def conversation(settings: Settings) -> AsyncIterator[ConversationAPI]:
    database = open_module_database("conversation", settings)
    yield REGISTRY["conversation"].build_service(database, settings, {})
    await database.dispose()
