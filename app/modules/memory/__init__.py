"""Memory: working memory per session (Redis or in-process), long-term memories per user."""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.memory import MemoryAPI
from contracts.record import Contracts

from . import vector_index
from .models import metadata
from .routes import MemoryController, MemoryStatsController, WorkingMemoryController
from .service import MemoryService
from .settings import MemorySettings


def build_service(database: ModuleDatabase, settings: Settings, contracts: Contracts) -> MemoryAPI:
    return MemoryService(database, settings, conversation=contracts.conversation)


module = Module(
    name="memory",
    metadata=metadata,
    contract=MemoryAPI,
    service=build_service,
    routes=[MemoryStatsController, MemoryController, WorkingMemoryController],
    migrations=Path(__file__).parent / "migrations",
    settings=MemorySettings,
    depends_on=["conversation"],  # whose session a working memory belongs to
    postgres_extensions=["vector"],
    seed=vector_index.build_for_settings,
    unmodelled=[
        "memory_entries_fts",
        "content_tsv",
        "ix_memory_entries_content_tsv",
        "ix_memory_entries_hnsw_",  # vector_index.py, one per model
        "memory_vectors_",  # vector_index.py: SQLite's vec0 table per model, and its own
    ],
)

__all__ = ["module"]
