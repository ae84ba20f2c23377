"""RAG: the agents' shared knowledge base, chunked, embedded, searched by words and meaning."""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.rag import RagAPI
from contracts.record import Contracts

from . import vector_index
from .models import UNMODELLED, metadata
from .routes import DocumentController, RagStatsController, SearchController
from .service import RagService
from .settings import RagSettings


def build_service(database: ModuleDatabase, settings: Settings, contracts: Contracts) -> RagAPI:
    return RagService(database, settings)


module = Module(
    name="rag",
    metadata=metadata,
    contract=RagAPI,
    service=build_service,
    routes=[DocumentController, SearchController, RagStatsController],
    migrations=Path(__file__).parent / "migrations",
    max_in_flight=16,  # each search or ingest holds the embedder for a while
    settings=RagSettings,
    postgres_extensions=("vector",),
    unmodelled=UNMODELLED,
    seed=vector_index.build_for_settings,
)

__all__ = ["module"]
