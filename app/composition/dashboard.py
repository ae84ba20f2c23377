"""`GET /v1/dashboard`: every module's stats for a range, gathered in parallel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import msgspec

from .parts import Part, PartCall, gather_parts

PARTS = ("conversation", "rag", "tools", "memory", "billing")


class EventsStatusSource(Protocol):
    """Where the consistency lag comes from (the kernel's `EventSystem`)."""

    async def status(self) -> Any: ...


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    parts: dict[str, Part]


async def dashboard(
    contracts: Mapping[str, Any],
    since: datetime,
    until: datetime,
    timeout_s: float,
    events: EventsStatusSource | None = None,
) -> Dashboard:
    """Each module's stats, the analytics report, and the events' consistency lag."""
    calls: dict[str, PartCall] = {}
    for name in PARTS:
        contract = contracts.get(name)
        calls[name] = None if contract is None else _stats(contract, since, until)
    analytics = contracts.get("analytics")
    calls["analytics"] = None if analytics is None else _report(analytics, since, until)
    calls["events"] = None if events is None else events.status
    return Dashboard(since=since, until=until, parts=await gather_parts(calls, timeout_s))


def _report(contract: Any, since: datetime, until: datetime) -> PartCall:
    async def call() -> Any:
        return await contract.report(since=since, until=until)

    return call


def _stats(contract: Any, since: datetime, until: datetime) -> PartCall:
    async def call() -> Any:
        return await contract.stats(since=since, until=until)

    return call
