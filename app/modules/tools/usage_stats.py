"""`ToolsAPI.stats`: outcomes and durations of calls in a time range, overall and per tool."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.percentiles import nearest_rank
from contracts.tools import RunStatus, ToolStats, ToolUsage

from .models import ExecutionRow

RUN_STATUSES = get_args(RunStatus)


async def tool_stats(tx: AsyncSession, since: datetime, until: datetime) -> ToolStats:
    in_range = (ExecutionRow.created_at >= since, ExecutionRow.created_at < until)
    counts = (
        await tx.execute(
            select(ExecutionRow.tool_name, ExecutionRow.status, func.count())
            .where(*in_range)
            .group_by(ExecutionRow.tool_name, ExecutionRow.status)
        )
    ).all()
    by_tool: dict[str, Counter[str]] = defaultdict(Counter)
    for tool_name, status, count in counts:
        by_tool[tool_name][status] += count
    overall: Counter[str] = sum(by_tool.values(), Counter())
    p50, p95 = await _durations(tx, in_range)
    per_tool = []
    for tool_name in sorted(by_tool):
        tool_p50, tool_p95 = await _durations(tx, (*in_range, ExecutionRow.tool_name == tool_name))
        per_tool.append(
            ToolUsage(
                tool_name=tool_name,
                calls=sum(by_tool[tool_name].values()),
                succeeded=by_tool[tool_name]["succeeded"],
                success_rate=_success_rate(by_tool[tool_name]),
                p50_duration_ms=tool_p50,
                p95_duration_ms=tool_p95,
                refused=by_tool[tool_name]["refused"],
                rate_limited=by_tool[tool_name]["rate_limited"],
            )
        )
    return ToolStats(
        since=since,
        until=until,
        calls=sum(overall.values()),
        runs=sum(overall[s] for s in RUN_STATUSES),
        by_status=dict(sorted(overall.items())),
        success_rate=_success_rate(overall),
        p50_duration_ms=p50,
        p95_duration_ms=p95,
        refused=overall["refused"],
        rate_limited=overall["rate_limited"],
        per_tool=per_tool,
    )


def _success_rate(counts: Counter[str]) -> float | None:
    runs = sum(counts[s] for s in RUN_STATUSES)
    return round(counts["succeeded"] / runs, 4) if runs else None


async def _durations(tx: AsyncSession, where: tuple[Any, ...]) -> tuple[float | None, float | None]:
    """p50 and p95 of sandbox runs' durations."""
    ran = (*where, ExecutionRow.status.in_(RUN_STATUSES))
    _, (p50, p95) = await nearest_rank(tx, ExecutionRow.duration_ms, ran, (0.50, 0.95))
    return p50, p95
