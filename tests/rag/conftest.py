from collections.abc import AsyncIterator

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.rag.service import RagService
from app.modules.rag.settings import RagSettings
from contracts.rag import RagAPI


@pytest.fixture
async def rag(settings: Settings) -> AsyncIterator[RagAPI]:
    """The RAG service with the fast hashing embedder, small chunks (300, overlap 60)."""

    small = settings.with_values(RagSettings, chunk_size=300, chunk_overlap=60)
    database = open_module_database("rag", small)
    yield RagService(database, small)
    await database.dispose()
