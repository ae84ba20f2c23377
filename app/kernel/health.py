"""`GET /health`: is every module's database reachable, and how fast."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from .database import ModuleDatabase

PING_TIMEOUT_S = 2.0


class ModuleHealth(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # "ok" or "unavailable"
    modules: dict[str, ModuleHealth]


async def check_database(database: ModuleDatabase) -> ModuleHealth:
    try:
        latency = await asyncio.wait_for(database.ping(), PING_TIMEOUT_S)
    except TimeoutError:
        return ModuleHealth(ok=False, error=f"database did not answer within {PING_TIMEOUT_S}s")
    except Exception as exc:  # any failure to reach it is what health reports
        return ModuleHealth(ok=False, error=f"database unreachable: {type(exc).__name__}")
    return ModuleHealth(ok=True, latency_ms=round(latency, 2))


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get(operation_id="health", summary="Each module's database: reachable, with latency")
    async def health(self, state: State) -> Response[Health]:
        databases: dict[str, ModuleDatabase] = state.databases
        results = await asyncio.gather(*(check_database(db) for db in databases.values()))
        modules = dict(zip(databases, results, strict=True))
        ok = all(r.ok for r in results)
        body = Health(status="ok" if ok else "unavailable", modules=modules)
        return Response(body, status_code=200 if ok else 503)
