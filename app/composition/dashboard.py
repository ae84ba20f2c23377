"""`GET /v1/dashboard`: every module's stats for a range, gathered in parallel."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec

from contracts.record import Contracts

from .parts import Part, PartCall, gather_parts


class EventsStatusSource(Protocol):
    """Where the consistency lag comes from (the kernel's `EventSystem`)."""

    async def status(self) -> Any: ...


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    parts: dict[str, Part]


async def dashboard(
    contracts: Contracts,
    since: datetime,
    until: datetime,
    timeout_s: float,
    events: EventsStatusSource | None = None,
) -> Dashboard:
    """Each module's stats, the analytics report, and the events' consistency lag."""
    calls: dict[str, PartCall] = {
        **{name: _stats(c, since, until) for name, c in stats_sources(contracts).items()},
        "analytics": lambda: contracts.analytics.report(since=since, until=until),
        "events": None if events is None else events.status,
    }
    return Dashboard(since=since, until=until, parts=await gather_parts(calls, timeout_s))


class HasStats(Protocol):
    """What every module's contract offers the dashboard: its stats over a range."""

    async def stats(self, *, since: datetime, until: datetime) -> object: ...


def stats_sources(contracts: Contracts) -> dict[str, HasStats]:
    return {
        "conversation": contracts.conversation,
        "rag": contracts.rag,
        "tools": contracts.tools,
        "memory": contracts.memory,
        "billing": contracts.billing,
    }


def _stats(contract: HasStats, since: datetime, until: datetime) -> PartCall:
    return lambda: contract.stats(since=since, until=until)
