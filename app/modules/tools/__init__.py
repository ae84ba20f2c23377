"""Tools: a registry of versioned tools, a policy, a bubblewrap sandbox and an audit log."""

from pathlib import Path

from app.kernel.module import Module
from contracts.tools import ToolsAPI

from .models import metadata
from .routes import ExecutionController, PolicyController, ToolController, ToolStatsController
from .service import ToolsService, seed_builtin_tools

module = Module(
    name="tools",
    metadata=metadata,
    contract=ToolsAPI,
    service=ToolsService,
    routes=[ToolStatsController, PolicyController, ExecutionController, ToolController],
    migrations=Path(__file__).parent / "migrations",
    seed=seed_builtin_tools,
)

__all__ = ["module"]
