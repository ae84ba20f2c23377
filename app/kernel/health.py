"""`GET /health` (public: up or not) and `GET /v1/admin/health` (how fast, and why not)."""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from .auth import requires_admin
from .database import ModuleDatabase

PING_TIMEOUT_S = 2.0


class ModuleHealth(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class ComponentHealth(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Something a module needs besides its database (the tools sandbox, Redis)."""

    ok: bool
    error: str | None = None
    detail: str | None = None  # e.g. the version found


@runtime_checkable
class ReportsComponents(Protocol):
    """A module service with components of its own to report in `/health`."""

    async def component_health(self) -> dict[str, ComponentHealth]: ...


class Health(msgspec.Struct, frozen=True, kw_only=True):
    # "ok"; "degraded" (200) when a component is down, which only the features needing it
    # feel; "unavailable" (503) when a module's database is down.
    status: str
    modules: dict[str, ModuleHealth]
    components: dict[str, ComponentHealth]


async def check_database(database: ModuleDatabase) -> ModuleHealth:
    try:
        latency = await asyncio.wait_for(database.ping(), PING_TIMEOUT_S)
    except TimeoutError:
        return ModuleHealth(ok=False, error=f"database did not answer within {PING_TIMEOUT_S}s")
    except Exception as exc:  # any failure to reach it is what health reports
        return ModuleHealth(ok=False, error=f"database unreachable: {type(exc).__name__}")
    return ModuleHealth(ok=True, latency_ms=round(latency, 2))


async def check_components(reporter: ReportsComponents) -> dict[str, ComponentHealth]:
    try:
        return await asyncio.wait_for(reporter.component_health(), PING_TIMEOUT_S * 5)
    except TimeoutError:
        return {"components": ComponentHealth(ok=False, error="no answer within 10s")}


async def check_health(state: State) -> Health:
    databases: dict[str, ModuleDatabase] = state.databases
    reporters: dict[str, ReportsComponents] = state.component_reporters
    results, reports = await asyncio.gather(
        asyncio.gather(*(check_database(db) for db in databases.values())),
        asyncio.gather(*(check_components(r) for r in reporters.values())),
    )
    modules = dict(zip(databases, results, strict=True))
    components = {
        f"{module}.{name}": health
        for module, report in zip(reporters, reports, strict=True)
        for name, health in report.items()
    }
    if not all(r.ok for r in results):
        status = "unavailable"
    elif not all(c.ok for c in components.values()):
        status = "degraded"
    else:
        status = "ok"
    return Health(status=status, modules=modules, components=components)


@runtime_checkable
class Reachable(Protocol):
    """A remote module this process needs (a client of it): does its process answer?"""

    async def reachable(self) -> bool: ...


class Liveness(msgspec.Struct, frozen=True, kw_only=True):
    status: str


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    modules: dict[str, bool]  # this process's own databases
    remotes: dict[str, bool]  # the remote modules its modules depend on


async def check_readiness(state: State) -> Readiness:
    databases: dict[str, ModuleDatabase] = state.databases
    required: dict[str, Reachable] = state.get("required_remotes") or {}
    own, remote = await asyncio.gather(
        asyncio.gather(*(check_database(db) for db in databases.values())),
        asyncio.gather(*(r.reachable() for r in required.values())),
    )
    modules = {name: h.ok for name, h in zip(databases, own, strict=True)}
    remotes = dict(zip(required, remote, strict=True))
    return Readiness(
        ready=all(modules.values()) and all(remotes.values()), modules=modules, remotes=remotes
    )


def _answer(body: Health) -> Response[Health]:
    return Response(body, status_code=503 if body.status == "unavailable" else 200)


class HealthController(Controller):
    """Public, for load balancers: up or not, per module and component, and nothing more
    (no hosts, versions or error texts: those are for admins, at /v1/admin/health)."""

    path = "/health"
    tags = ["health"]

    @get(operation_id="health", summary="Whether each module's database and component is up")
    async def health(self, state: State) -> Response[Health]:
        full = await check_health(state)
        return _answer(
            Health(
                status=full.status,
                modules={name: ModuleHealth(ok=m.ok) for name, m in full.modules.items()},
                components={name: ComponentHealth(ok=c.ok) for name, c in full.components.items()},
            )
        )

    @get(
        "/live",
        operation_id="liveness",
        summary="The process answers (a Kubernetes liveness probe: nothing else is checked)",
    )
    async def live(self) -> Liveness:
        return Liveness(status="alive")

    @get(
        "/ready",
        operation_id="readiness",
        summary="Its own databases and the remote modules its modules need answer (503 if not)",
    )
    async def ready(self, state: State) -> Response[Readiness]:
        readiness = await check_readiness(state)
        return Response(readiness, status_code=200 if readiness.ready else 503)


class HealthDetailsController(Controller):
    path = "/admin/health"
    tags = ["health"]

    @get(
        operation_id="healthDetails",
        summary="Health with latencies, versions and errors (admin)",
        guards=[requires_admin],
    )
    async def health_details(self, state: State) -> Response[Health]:
        return _answer(await check_health(state))
