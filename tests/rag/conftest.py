from collections.abc import AsyncIterator
from typing import cast

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.rag.service import RagService
from app.modules.rag.settings import RagSettings
from contracts.rag import RagAPI
from tests.over_the_wire import MODES, served_remotely


@pytest.fixture(params=MODES)
async def rag(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[RagAPI]:
    """The RAG contract with the fast hashing embedder and small chunks (300, overlap 60):
    the service itself, and the same through its HTTP client against a RAG server process."""
    small = settings.with_values(RagSettings, chunk_size=300, chunk_overlap=60)
    if request.param == "over-http":
        async with served_remotely("rag", RagAPI, small) as client:
            yield cast(RagAPI, client)  # it has exactly the Protocol's methods
        return
    database = open_module_database("rag", small)
    yield RagService(database, small)
    await database.dispose()
