from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.rag.service import RagService
from app.modules.rag.settings import RagSettings
from contracts.rag import RagAPI
from tests.over_the_wire import MODES, contract_under_test


@pytest.fixture(params=MODES)
async def rag(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[RagAPI]:
    """The RAG contract with the fast hashing embedder and small chunks (300, overlap 60):
    the service itself, and the same through its HTTP client against a real server of it."""
    small = settings.with_values(RagSettings, chunk_size=300, chunk_overlap=60)
    database = open_module_database("rag", small)
    service = RagService(database, small)
    async with contract_under_test(request.param, "rag", service, database, small) as api:
        yield api
