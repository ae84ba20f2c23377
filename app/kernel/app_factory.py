"""Build the Litestar app from modules that are already bound to their databases.

The kernel does not choose modules or wire contracts: `app/main.py` does, and hands
over each module with its database and its built service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from litestar import Controller, Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import ASGIRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.prometheus import PrometheusConfig
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from contracts.record import Contracts

from .api_docs import docs_assets, openapi_config
from .auth import RevokesTokens, jwt_auth, resolve_jwt_secret
from .database import ModuleDatabase
from .events.routes import EventsAdminController
from .events.system import EventSystem
from .health import HealthController, HealthDetailsController, ReportsComponents
from .http_errors import EXCEPTION_HANDLERS
from .module import Module
from .request_guards import refuse_deep_json
from .rpc.client import RemoteModule
from .rpc.server import InternalRpcController, Served
from .rpc.service_tokens import ServiceVerifier
from .rpc.settings import RpcSettings
from .settings import Settings
from .telemetry import TelemetrySettings, configure_tracing, logging_config, request_ids
from .telemetry.scrape import MetricsController
from .telemetry.tracing import flush_traces

API_PREFIX = "/v1"


@dataclass(frozen=True)
class BoundModule:
    module: Module
    database: ModuleDatabase
    service: object  # implements module.contract (its factory's return type says so)
    # The same service as its callers get it (routes, other modules, other processes):
    # each contract call holding one of the module's slots (`in_flight.py`).
    api: object = None

    def __post_init__(self) -> None:
        if self.api is None:
            object.__setattr__(self, "api", self.service)


@dataclass(frozen=True)
class RemoteBinding:
    """A module served by another process: its descriptor (routes, contract) and the
    client that implements its contract over HTTP."""

    module: Module
    client: RemoteModule
    api: object = None  # the client as callers get it (each call observed)

    def __post_init__(self) -> None:
        if self.api is None:
            object.__setattr__(self, "api", self.client)


class Endpoint(Protocol):
    """A protocol served beside `/v1` (MCP): its route, and what runs while the app does."""

    @property
    def route(self) -> ASGIRouteHandler: ...

    def lifespan(self, app: Litestar) -> AbstractAsyncContextManager[None]: ...


@runtime_checkable
class HoldsConnections(Protocol):
    """A service with connections of its own besides its database, closed on shutdown."""

    async def close(self) -> None: ...


@runtime_checkable
class RunsInBackground(Protocol):
    """A service with work of its own between requests (the saga orchestrator's sweep)."""

    async def start_background(self) -> None: ...

    async def stop_background(self) -> None: ...


def provided(value: object) -> Provide:
    """A dependency that is always `value` (a service, the contracts, a page's settings)."""

    async def provide() -> object:
        return value

    return Provide(provide, use_cache=True)


async def close_modules(
    bound: Sequence[BoundModule], remotes: Sequence[RemoteBinding] = ()
) -> None:
    """Close what each service holds besides its database, the remotes' connection pools,
    then the databases."""
    for remote in remotes:
        await remote.client.close()
    for b in bound:
        if isinstance(b.service, HoldsConnections):
            await b.service.close()  # e.g. a Redis client
    for b in bound:
        await b.database.dispose()


def build_app(
    settings: Settings,
    bound: Sequence[BoundModule],
    contracts: Contracts,
    cross_module_routes: Sequence[type[Controller]] = (),
    events: EventSystem | None = None,
    remotes: Sequence[RemoteBinding] = (),
    rpc_verifier: ServiceVerifier | None = None,
    endpoints: Sequence[Endpoint] = (),
    pages: Sequence[ControllerRouterHandler] = (),
    templates: Path | None = None,
) -> Litestar:
    """`cross_module_routes` (composition) ask for `contracts`, the typed record.
    `events` relays the modules' outboxes and feeds their consumers. `endpoints` are
    served beside `/v1` with their own auth (MCP); `pages` too, rendered from the Jinja
    templates in `templates` (the console)."""
    auth = jwt_auth(resolve_jwt_secret(settings))
    telemetry = settings.of(TelemetrySettings)
    # A split deployment's processes are told apart in traces by their service's name.
    configure_tracing(telemetry, settings.of(RpcSettings).service_name or "bulkhead")
    tracing = OpenTelemetryConfig(
        exclude=["^/metrics", "^/health"], exclude_spans=["receive", "send"]
    )
    # Routes by their template, not the path asked for: one series per route.
    requests = PrometheusConfig(app_name="bulkhead", prefix="bulkhead", group_path=True)
    databases = {b.module.name: b.database for b in bound}

    background: list[RunsInBackground] = [
        b.service for b in bound if isinstance(b.service, RunsInBackground)
    ]
    if events is not None:
        background.append(events)
    reporters: dict[str, ReportsComponents] = {
        b.module.name: b.service for b in bound if isinstance(b.service, ReportsComponents)
    }
    reporters.update({f"remote:{r.module.name}": r.client for r in remotes})
    if events is not None:
        reporters["events"] = events
    revocations = [b.service for b in bound if isinstance(b.service, RevokesTokens)]
    revocations += [
        r.client for r in remotes if r.module.name == "sagas"
    ]  # it has every SagaAdminAPI method

    async def start_background() -> None:
        for service in background:
            await service.start_background()

    async def dispose_databases() -> None:
        for service in background:
            await service.stop_background()
        await close_modules(bound, remotes)
        await asyncio.to_thread(flush_traces)  # it waits on the exporter's network call

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            *(route for b in bound for route in b.module.routes),
            *(route for r in remotes for route in r.module.routes),  # served through the client
            *cross_module_routes,
            *([EventsAdminController] if events is not None else []),
            HealthDetailsController,
        ],
        # Each module's controllers ask for their service by the module's name.
        # Cross-module routes ask for `contracts`, the typed record.
        dependencies={
            **{b.module.name: provided(b.api) for b in bound},
            **{r.module.name: provided(r.api) for r in remotes},
            "contracts": provided(contracts),
        },
    )
    app = Litestar(
        route_handlers=[
            HealthController,
            api,
            InternalRpcController,
            MetricsController,
            docs_assets(),
            *(e.route for e in endpoints),
            *pages,
        ],
        middleware=[requests.middleware],
        plugins=[OpenTelemetryPlugin(tracing)],
        lifespan=[e.lifespan for e in endpoints],
        on_app_init=[auth.on_app_init],
        before_request=refuse_deep_json,
        on_startup=[start_background],
        on_shutdown=[dispose_databases],
        exception_handlers=EXCEPTION_HANDLERS,
        state=State(
            {
                "databases": databases,
                "contracts": contracts,
                "settings": settings,
                "component_reporters": reporters,
                "events": events,
                "token_revocations": revocations[0] if revocations else None,
                "rpc_remotes": [r.client for r in remotes],
                # What readiness waits for: the remotes this process's modules depend on.
                "required_remotes": {
                    r.module.name: r.client
                    for r in remotes
                    if any(r.module.name in b.module.depends_on for b in bound)
                },
                "rpc_served": {b.module.name: Served(b.module.contract, b.api) for b in bound},
                "rpc_verifier": rpc_verifier or ServiceVerifier(settings.data_dir / "keys", {}),
            }
        ),
        openapi_config=openapi_config(),
        logging_config=logging_config(settings.log_level, telemetry.log_format),
        template_config=(
            TemplateConfig(directory=templates, engine=JinjaTemplateEngine) if templates else None
        ),
        debug=False,
    )
    # Outside everything, the exception handlers included: a request refused by auth or
    # failed by a bug still gets its id in the response and its line in the log.
    app.asgi_handler = request_ids(app.asgi_handler)
    return app
