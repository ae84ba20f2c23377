"""RAG: the agents' shared knowledge base, chunked, embedded, searched by words and meaning."""

from pathlib import Path

from app.kernel.module import Module
from contracts.rag import RagAPI

from .models import UNMODELLED, metadata
from .routes import DocumentController, RagStatsController, SearchController
from .service import RagService

module = Module(
    name="rag",
    metadata=metadata,
    contract=RagAPI,
    service=RagService,
    routes=[DocumentController, SearchController, RagStatsController],
    migrations=Path(__file__).parent / "migrations",
    postgres_extensions=("vector",),
    unmodelled=UNMODELLED,
)

__all__ = ["module"]
