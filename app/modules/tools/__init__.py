"""Tools: a registry of versioned tools, a policy, a bubblewrap sandbox and an audit log."""

from pathlib import Path

from app.kernel.database import ModuleDatabase
from app.kernel.module import Module
from app.kernel.settings import Settings
from contracts.record import Contracts
from contracts.tools import ToolsAPI

from .models import metadata
from .routes import ExecutionController, PolicyController, ToolController, ToolStatsController
from .service import ToolsService, seed_builtin_tools
from .settings import ToolsSettings


def build_service(database: ModuleDatabase, settings: Settings, contracts: Contracts) -> ToolsAPI:
    return ToolsService(database, settings)


module = Module(
    name="tools",
    metadata=metadata,
    contract=ToolsAPI,
    service=build_service,
    routes=[ToolStatsController, PolicyController, ExecutionController, ToolController],
    migrations=Path(__file__).parent / "migrations",
    max_in_flight=16,  # each run holds a sandbox for up to its time limit
    settings=ToolsSettings,
    seed=seed_builtin_tools,
)

__all__ = ["module"]
