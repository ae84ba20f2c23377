"""HTTP face of analytics: the report (admin)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.kernel.auth import requires_admin
from app.kernel.time_range import StatsRange, parse_range
from contracts.analytics import AnalyticsAPI, AnalyticsReport


class AnalyticsController(Controller):
    path = "/analytics"
    tags = ["analytics"]
    guards = [requires_admin]

    @get(
        "/report",
        operation_id="analyticsReport",
        summary="Activity per day, tools, retrieval latency, memory growth, top users (admin)",
    )
    async def report(
        self, analytics: NamedDependency[AnalyticsAPI], state: State, range_: StatsRange = "7d"
    ) -> AnalyticsReport:
        since, until = parse_range(range_)
        report = await analytics.report(since=since, until=until)
        if state.get("events") is None:
            return report
        status = await state.events.status()
        return msgspec.structs.replace(report, consistency_lag_s=status.consistency_lag_s)
