"""Reading the model: sums over users and days, percentiles over samples."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.percentiles import nearest_rank
from contracts.analytics import (
    AnalyticsReport,
    DailyActivity,
    RetrievalLatency,
    SourcePosition,
    ToolUsage,
    UserUsage,
)

from .models import (
    UNATTRIBUTED,
    RetrievalSampleRow,
    SourcePositionRow,
    ToolCallsByDayRow,
    UsageByDayRow,
)

TOP_USERS = 20
_USAGE_COUNTS = (
    "sessions_created",
    "sessions_deleted",
    "messages",
    "tokens",
    "routing_decisions",
    "documents_ingested",
    "memories_added",
    "memories_deleted",
)


async def build_report(tx: AsyncSession, since: datetime, until: datetime) -> AnalyticsReport:
    first, last = since.date(), until.date()
    usage = {
        row.day: row
        for row in (
            await tx.execute(
                select(
                    UsageByDayRow.day,
                    *(func.sum(getattr(UsageByDayRow, c)).label(c) for c in _USAGE_COUNTS),
                )
                .where(UsageByDayRow.day.between(first, last))
                .group_by(UsageByDayRow.day)
            )
        ).all()
    }
    calls_by_day = dict(
        (
            await tx.execute(
                select(ToolCallsByDayRow.day, func.sum(ToolCallsByDayRow.calls))
                .where(ToolCallsByDayRow.day.between(first, last))
                .group_by(ToolCallsByDayRow.day)
            )
        ).all()
    )
    searches_by_day = dict(
        (
            await tx.execute(
                select(RetrievalSampleRow.day, func.count())
                .where(RetrievalSampleRow.day.between(first, last))
                .group_by(RetrievalSampleRow.day)
            )
        ).all()
    )
    days = []
    for day in sorted(set(usage) | set(calls_by_day) | set(searches_by_day)):
        row = usage.get(day)
        counts = {c: int(getattr(row, c) or 0) if row else 0 for c in _USAGE_COUNTS}
        days.append(
            DailyActivity(
                day=day,
                tool_calls=int(calls_by_day.get(day, 0)),
                searches=int(searches_by_day.get(day, 0)),
                **counts,
            )
        )
    return AnalyticsReport(
        since=since,
        until=until,
        days=days,
        tools=await _tools(tx, first, last),
        retrieval=await _retrieval(tx, first, last),
        memory_growth=sum(d.memories_added - d.memories_deleted for d in days),
        top_users=await _top_users(tx, first, last),
        sources=[
            SourcePosition(
                source=row.source,
                last_position=row.last_position,
                last_event_at=row.last_occurred_at,
                events_applied=row.events_applied,
            )
            for row in (
                await tx.scalars(select(SourcePositionRow).order_by(SourcePositionRow.source))
            ).all()
        ],
    )


async def _tools(tx: AsyncSession, first: date, last: date) -> list[ToolUsage]:
    rows = (
        await tx.execute(
            select(
                ToolCallsByDayRow.tool_name,
                func.sum(ToolCallsByDayRow.calls).label("calls"),
                func.sum(ToolCallsByDayRow.succeeded).label("succeeded"),
                func.sum(ToolCallsByDayRow.duration_ms).label("duration_ms"),
            )
            .where(ToolCallsByDayRow.day.between(first, last))
            .group_by(ToolCallsByDayRow.tool_name)
            .order_by(func.sum(ToolCallsByDayRow.calls).desc(), ToolCallsByDayRow.tool_name)
        )
    ).all()
    return [
        ToolUsage(
            tool_name=row.tool_name,
            calls=int(row.calls),
            succeeded=int(row.succeeded),
            success_rate=round(row.succeeded / row.calls, 4) if row.calls else 0.0,
            mean_duration_ms=round(row.duration_ms / row.calls, 3) if row.duration_ms else None,
        )
        for row in rows
    ]


async def _retrieval(tx: AsyncSession, first: date, last: date) -> RetrievalLatency:
    searches, (p50, p95, p99) = await nearest_rank(
        tx,
        RetrievalSampleRow.latency_ms,
        [RetrievalSampleRow.day.between(first, last)],
        (0.50, 0.95, 0.99),
    )
    return RetrievalLatency(searches=searches, p50_ms=p50, p95_ms=p95, p99_ms=p99)


async def _top_users(tx: AsyncSession, first: date, last: date) -> list[UserUsage]:
    in_range = UsageByDayRow.day.between(first, last)
    rows = (
        await tx.execute(
            select(
                UsageByDayRow.user_id,
                func.sum(UsageByDayRow.sessions_created).label("sessions_created"),
                func.sum(UsageByDayRow.messages).label("messages"),
                func.sum(UsageByDayRow.tokens).label("tokens"),
                func.sum(UsageByDayRow.memories_added).label("memories_added"),
            )
            .where(in_range, UsageByDayRow.user_id != UNATTRIBUTED)
            .group_by(UsageByDayRow.user_id)
            .order_by(func.sum(UsageByDayRow.messages).desc(), UsageByDayRow.user_id)
            .limit(TOP_USERS)
        )
    ).all()
    calls = dict(
        (
            await tx.execute(
                select(ToolCallsByDayRow.user_id, func.sum(ToolCallsByDayRow.calls))
                .where(
                    ToolCallsByDayRow.day.between(first, last),
                    ToolCallsByDayRow.user_id.in_([r.user_id for r in rows]),
                )
                .group_by(ToolCallsByDayRow.user_id)
            )
        ).all()
    )
    return [
        UserUsage(
            user_id=row.user_id,
            sessions_created=int(row.sessions_created),
            messages=int(row.messages),
            tokens=int(row.tokens),
            tool_calls=int(calls.get(row.user_id, 0)),
            memories_added=int(row.memories_added),
        )
        for row in rows
    ]
