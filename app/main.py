"""The composition root: which modules exist, and how their contracts are wired.

This is the only place where one module's contract is handed to another. Today every
contract is the local service; a later remote client slots in here, callers unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from app.composition.routes import DashboardController, SessionContextController
from app.kernel.app_factory import BoundModule, HoldsConnections, build_app
from app.kernel.database import open_module_database
from app.kernel.events import EventSystem
from app.kernel.private_files import keep_files_private
from app.kernel.registry import ModuleRegistry
from app.kernel.settings import Settings
from app.modules import analytics, billing, conversation, memory, rag, tools
from app.sagas import store as saga_store

REGISTRY = ModuleRegistry(
    [
        conversation.module,
        billing.module,
        rag.module,
        tools.module,
        memory.module,
        analytics.module,
    ]
)
SAGA_STORE = saga_store  # not a module, but a database of its own like one
DATABASES = [*REGISTRY, SAGA_STORE]  # every database this server owns


def bind_modules(settings: Settings) -> list[BoundModule]:
    """Open each enabled module's own database and build its service, dependencies first."""
    settings.check_modules(REGISTRY.names | {SAGA_STORE.name})
    contracts: dict[str, Any] = {}
    bound: list[BoundModule] = []
    for module in REGISTRY.select(settings.modules):
        database = open_module_database(module.name, settings)
        contracts[module.name] = module.build_service(database, settings, contracts)
        bound.append(BoundModule(module, database, contracts[module.name]))
    # The orchestrator gets the contracts that run here; a saga needing another answers 503.
    database = open_module_database(SAGA_STORE.name, settings)
    orchestrator = SAGA_STORE.service(database.claim(SAGA_STORE.name), settings, **contracts)
    bound.append(BoundModule(SAGA_STORE, database, orchestrator))
    return bound


@asynccontextmanager
async def open_contracts(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """Every enabled module's contract, for commands that work without the HTTP server."""
    async with open_modules(settings) as bound:
        yield {b.module.name: b.service for b in bound}


@asynccontextmanager
async def open_modules(settings: Settings) -> AsyncIterator[list[BoundModule]]:
    """Every enabled module bound to its database; closed on exit."""
    bound = bind_modules(settings)
    try:
        yield bound
    finally:
        for b in bound:
            if isinstance(b.service, HoldsConnections):
                await b.service.close()
            await b.database.dispose()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    keep_files_private(settings.data_dir)
    bound = bind_modules(settings)
    return build_app(
        settings,
        bound,
        [DashboardController, SessionContextController],
        events=EventSystem(settings, bound),
    )
