"""What the console shows, gathered at once from the same sources as the admin routes.
Each part that cannot be read becomes a note on the page, never a failed page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from litestar.datastructures import State
from sqlalchemy.engine import make_url

from app.kernel.events.dead_letters import DeadLetter
from app.kernel.events.system import EventsStatus, EventSystem
from app.kernel.health import Health, check_health
from app.kernel.module import Module
from app.kernel.rpc.client import RemoteModule
from app.kernel.settings import Settings
from app.sagas.routes import user_deletion_progress
from contracts.analytics import AnalyticsReport
from contracts.record import Contracts
from contracts.sagas import Saga
from contracts.tools import ToolStats
from contracts.users import UserDeletion, UserDeletionProgress

from .charts import Chart

T = TypeVar("T")
PART_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModuleRow:
    name: str
    runs: str  # "this process" or the remote's URL
    database: str  # never with its password
    calls: list[str]
    status: str  # "up", "down" or "unknown": a word, not only a colour
    latency_ms: float | None
    detail: str | None


@dataclass(frozen=True)
class Deletion:
    user_id: str
    requested_at: datetime
    progress: UserDeletionProgress | None


@dataclass
class Overview:
    days: int
    modules: list[ModuleRow]
    charts: list[Chart]
    retrieval: dict[str, float | None]
    saga_counts: dict[str, int]
    needs_attention: list[Saga]
    dead_letters: dict[str, list[DeadLetter]]
    lag: dict[str, float]
    deletions: list[Deletion]
    notes: list[str] = field(default_factory=list)  # parts that could not be read, and why


async def overview(state: State, modules: Sequence[Module], days: int) -> Overview:
    contracts: Contracts = state["contracts"]
    events: EventSystem | None = state.get("events")
    notes: list[str] = []
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    async with asyncio.TaskGroup() as parts:  # all at once; each part catches its own failure
        health = parts.create_task(_part("health", check_health(state), notes))
        report = parts.create_task(
            _part("analytics", contracts.analytics.report(since=since, until=until), notes)
        )
        tools = parts.create_task(
            _part("tools", contracts.tools.stats(since=since, until=until), notes)
        )
        counts = parts.create_task(_part("sagas", contracts.sagas.count_by_state(), notes))
        stuck = parts.create_task(
            _part("sagas", contracts.sagas.list_sagas(state="needs_attention", limit=50), notes)
        )
        letters = parts.create_task(
            _part("events", events.dead_letters(limit=100), notes) if events else _none()
        )
        status = parts.create_task(_part("events", events.status(), notes) if events else _none())
        asked = parts.create_task(
            _part("deletions", contracts.sagas.list_user_deletions(limit=20), notes)
        )
    page = stuck.result()
    histories = (
        await asyncio.gather(
            *(_part("sagas", contracts.sagas.get_saga(saga_id=s.id), notes) for s in page.items)
        )
        if page
        else []
    )
    return Overview(
        days=days,
        modules=_module_rows(state, modules, health.result()),
        charts=_charts(report.result(), tools.result()),
        retrieval=_retrieval(report.result()),
        saga_counts=counts.result() or {},
        needs_attention=[h for h in histories if h is not None],
        dead_letters=_by_consumer(letters.result() or []),
        lag=_lag(status.result()),
        deletions=await _deletions(state, asked.result() or [], notes),
        notes=notes,
    )


async def _part(name: str, call: Awaitable[T], notes: list[str]) -> T | None:
    try:
        return await asyncio.wait_for(call, PART_TIMEOUT_S)
    except Exception as exc:  # the page shows the rest, and says what is missing
        message = getattr(exc, "message", None) or type(exc).__name__
        notes.append(f"{name}: could not be read ({message})")
        return None


async def _none() -> None:
    return None


def _module_rows(state: State, modules: Sequence[Module], health: Health | None) -> list[ModuleRow]:
    settings: Settings = state["settings"]
    remotes: dict[str, RemoteModule] = {r.module: r for r in state["rpc_remotes"]}
    local = state["databases"]
    rows = []
    for module in modules:
        if module.name in remotes:
            remote = remotes[module.name]
            runs, database = remote.base_url, "in that process"
            report = health.components if health else {}
            own = {k: v for k, v in report.items() if k.startswith(f"remote:{module.name}.")}
            ok = all(c.ok for c in own.values()) if own else None
            latency = remote.last_latency_ms
            detail: str | None = f"breaker {remote.breaker.state}"
        elif module.name in local:
            runs, database = "this process", _where(settings.database_url(module.name))
            found = health.modules.get(module.name) if health else None
            ok = found.ok if found else None
            latency = found.latency_ms if found else None
            detail = found.error if found else None
        else:
            runs, database, ok, latency, detail = "not running", "-", None, None, None
        status = "unknown" if ok is None else ("up" if ok else "down")
        rows.append(
            ModuleRow(module.name, runs, database, list(module.depends_on), status, latency, detail)
        )
    return rows


def _where(url: str) -> str:
    """A database as an operator names it: the SQLite file, or server and database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database}"
    return f"PostgreSQL {parsed.host}:{parsed.port or 5432}/{parsed.database}"


def _charts(report: AnalyticsReport | None, tools: ToolStats | None) -> list[Chart]:
    charts = []
    if report is not None:
        day = [d.day.strftime("%m-%d") for d in report.days]
        charts.append(
            Chart(
                "Sessions per day",
                "sessions",
                [(label, d.sessions_created) for label, d in zip(day, report.days, strict=True)],
            )
        )
        charts.append(
            Chart(
                "Messages per day",
                "messages",
                [(label, d.messages) for label, d in zip(day, report.days, strict=True)],
            )
        )
        growth, total = [], 0
        for label, d in zip(day, report.days, strict=True):
            total += d.memories_added - d.memories_deleted
            growth.append((label, float(total)))
        charts.append(Chart("Memory growth over the range", "memories", growth))
    if tools is not None:
        charts.append(Chart("Tool runs by status", "calls", sorted(tools.by_status.items())))
    return charts


def _retrieval(report: AnalyticsReport | None) -> dict[str, float | None]:
    if report is None:
        return {}
    latency = report.retrieval
    return {"searches": latency.searches, "p50 ms": latency.p50_ms, "p95 ms": latency.p95_ms}


def _by_consumer(letters: list[DeadLetter]) -> dict[str, list[DeadLetter]]:
    grouped: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        grouped.setdefault(letter.consumer, []).append(letter)
    return grouped


def _lag(status: EventsStatus | None) -> dict[str, float]:
    if status is None:
        return {}
    now = datetime.now(UTC)
    return {
        o.source: (now - o.oldest_unpublished_at).total_seconds()
        if o.oldest_unpublished_at
        else 0.0
        for o in status.outboxes
    }


async def _deletions(state: State, asked: list[UserDeletion], notes: list[str]) -> list[Deletion]:
    progress = await asyncio.gather(
        *(_part("deletions", user_deletion_progress(state, d.deletion_id), notes) for d in asked)
    )
    return [
        Deletion(d.user_id, d.requested_at, p)
        for d, p in zip(asked, progress, strict=True)
        if p is None or not p.complete  # in progress, or unknown
    ]
