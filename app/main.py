"""The composition root: which modules exist, and how their contracts are wired.

This is the only place where one module's contract is handed to another: each is the
local service or, for a module this process does not run, a stand-in that answers 503.
A remote client slots in here the same way, callers unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar import Litestar

from app.composition.routes import DashboardController, SessionContextController
from app.composition.settings import CompositionSettings
from app.console import TEMPLATES as CONSOLE_TEMPLATES
from app.console import console_router
from app.console.settings import ConsoleSettings
from app.kernel.app_factory import BoundModule, RemoteBinding, build_app, close_modules
from app.kernel.auth import resolve_jwt_secret
from app.kernel.database import open_module_database
from app.kernel.events import EventSystem
from app.kernel.events.settings import EventsSettings
from app.kernel.in_flight import InFlightLimit, LimitedService
from app.kernel.module import Module
from app.kernel.private_files import keep_files_private
from app.kernel.registry import ModuleRegistry
from app.kernel.rpc.settings import RpcSettings
from app.kernel.rpc.wiring import check_split, remote_clients, service_verifier
from app.kernel.settings import Settings
from app.kernel.telemetry import ObservedService, TelemetrySettings
from app.modules import analytics, billing, conversation, memory, rag, tools
from app.sagas import SAGA_STORE
from contracts.record import Contracts

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
DATABASES = [*REGISTRY, SAGA_STORE]  # every database this server owns
# Every group of settings, the kernel's first: `bulkhead settings` and the README show them.
SETTINGS_GROUPS: dict[str, type] = {
    "kernel": Settings,
    "events": EventsSettings,
    "composition": CompositionSettings,
    "rpc": RpcSettings,
    "telemetry": TelemetrySettings,
    "console": ConsoleSettings,
    **{m.name: m.settings for m in DATABASES if m.settings is not None},
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of this process; every group is parsed now, so a wrong value in any
    module's fails at start, naming its variable."""
    settings = Settings.from_env(environ)
    for group in SETTINGS_GROUPS.values():
        if group is not Settings:
            settings.of(group)
    return settings


@dataclass(frozen=True)
class Wiring:
    """What `bind_modules` made: each module running here with its database and service,
    the clients of modules running elsewhere, and the record of contracts everyone calls."""

    modules: list[BoundModule]
    remotes: list[RemoteBinding]
    contracts: Contracts


def bind_modules(settings: Settings) -> Wiring:
    """Open each enabled module's own database and build its service, dependencies first.
    A module configured as remote (BULKHEAD_REMOTE_<MODULE>) is an HTTP client of its
    Protocol; any other module not running here is a stand-in that answers 503."""
    settings.check_modules(REGISTRY.names | {SAGA_STORE.name})
    check_split(settings)
    contracts = Contracts.none_running()
    local = local_modules(settings)
    elsewhere = [m for m in DATABASES if m.name in settings.remotes]
    remotes = [
        RemoteBinding(m, client, ObservedService(client, m.name, m.contract))
        for m, client in zip(elsewhere, remote_clients(elsewhere, settings, local), strict=True)
    ]
    for binding in remotes:
        contracts = contracts.with_service(binding.module.name, binding.api)
    bound: list[BoundModule] = []
    for module in local:
        database = open_module_database(module.name, settings)
        service = module.build_service(database, settings, contracts)
        api = service
        if module is not SAGA_STORE:  # it only drives calls, whose modules count them
            most = settings.max_in_flight.get(module.name, module.max_in_flight)
            limit = InFlightLimit(module.name, most)
            api = ObservedService(
                LimitedService(service, module.contract, limit), module.name, module.contract
            )
        contracts = contracts.with_service(module.name, api)
        bound.append(BoundModule(module, database, service, api))
    return Wiring(bound, remotes, contracts)


def local_modules(settings: Settings) -> list[Module]:
    """The modules this process runs, dependencies first, and the saga store unless it is
    remote too."""
    modules = REGISTRY.select(settings.modules, remote=settings.remotes)
    return [*modules, *([] if SAGA_STORE.name in settings.remotes else [SAGA_STORE])]


@asynccontextmanager
async def open_modules(settings: Settings) -> AsyncIterator[Wiring]:
    """Every enabled module bound to its database; closed on exit. For commands that work
    without the HTTP server."""
    wiring = bind_modules(settings)
    try:
        yield wiring
    finally:
        await close_modules(wiring.modules, wiring.remotes)


def create_app(settings: Settings | None = None) -> Litestar:
    # Imported here, not above: the MCP SDK takes about 1 s to import (its pydantic
    # models), which every other command (`db upgrade`, `token create`...) need not pay.
    from app.mcp_server import serve_mcp

    settings = settings or load_settings()
    keep_files_private(settings.data_dir)
    wiring = bind_modules(settings)
    timeout_s = settings.of(CompositionSettings).timeout_s
    return build_app(
        settings,
        wiring.modules,
        wiring.contracts,
        [DashboardController, SessionContextController],
        events=EventSystem(settings, wiring.modules),
        remotes=wiring.remotes,
        rpc_verifier=service_verifier(settings, REGISTRY),
        endpoints=[serve_mcp(settings, wiring.contracts, timeout_s)],
        pages=console_router(
            resolve_jwt_secret(settings),
            [*REGISTRY, SAGA_STORE],
            settings.of(ConsoleSettings).secure_cookie == "true",
        ),
        templates=CONSOLE_TEMPLATES,
    )
