"""What the console shows, gathered at once from the same sources as the admin routes.
Each part that cannot be read becomes a note on the page, never a failed page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from litestar.datastructures import State
from sqlalchemy.engine import make_url

from app.composition.parts import Part, gather_parts
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
from contracts.users import UserDeletionProgress

from .charts import Chart

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
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    parts = await gather_parts(
        {
            "health": lambda: check_health(state),
            "analytics": lambda: contracts.analytics.report(since=since, until=until),
            "tools": lambda: contracts.tools.stats(since=since, until=until),
            "sagas": contracts.sagas.count_by_state,
            "stuck sagas": lambda: contracts.sagas.list_sagas(state="needs_attention", limit=50),
            "dead letters": None if events is None else lambda: events.dead_letters(limit=100),
            "events": None if events is None else events.status,
            "deletions": lambda: contracts.sagas.list_user_deletions(limit=20),
        },
        PART_TIMEOUT_S,
    )
    stuck = parts["stuck sagas"].data.items if parts["stuck sagas"].ok else []
    details = await gather_parts(
        {str(s.id): partial(contracts.sagas.get_saga, saga_id=s.id) for s in stuck},
        PART_TIMEOUT_S,
    )
    asked = parts["deletions"].data if parts["deletions"].ok else []
    progress = await gather_parts(
        {str(d.deletion_id): partial(user_deletion_progress, state, d.deletion_id) for d in asked},
        PART_TIMEOUT_S,
    )
    report = _data(parts["analytics"])
    return Overview(
        days=days,
        modules=_module_rows(state, modules, _data(parts["health"])),
        charts=_charts(report, _data(parts["tools"])),
        retrieval=_retrieval(report),
        saga_counts=_data(parts["sagas"]) or {},
        needs_attention=[p.data for p in details.values() if p.ok],
        dead_letters=_by_consumer(_data(parts["dead letters"]) or []),
        lag=_lag(_data(parts["events"])),
        deletions=[
            Deletion(d.user_id, d.requested_at, _data(progress[str(d.deletion_id)]))
            for d in asked
            if not (progress[str(d.deletion_id)].ok and progress[str(d.deletion_id)].data.complete)
        ],
        notes=[
            f"{name}: could not be read ({part.error})"
            for name, part in [*parts.items(), *details.items(), *progress.items()]
            if not part.ok
        ],
    )


def _data(part: Part) -> Any:
    """What a part answered, or None where it failed (its note says why)."""
    return part.data if part.ok else None


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
