"""The memory module's stats over a range, and the health of its working-memory store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.kernel.health import ComponentHealth
from app.kernel.percentiles import nearest_rank
from contracts.errors import Unavailable
from contracts.memory import (
    MemoryStats,
)

from .entries import (
    current,
)
from .models import (
    MemoryEntryRow,
    RecallLogRow,
)
from .part import MemoryPart


class MemoryStatistics(MemoryPart):
    """stats and component_health."""

    async def stats(self, *, since: datetime, until: datetime) -> MemoryStats:
        now = self._clock()
        async with self._db.read() as tx:
            per_category = dict(
                (
                    await tx.execute(
                        select(MemoryEntryRow.category, func.count())
                        .where(current(now))
                        .group_by(MemoryEntryRow.category)
                    )
                ).all()
            )
            added = await tx.scalar(
                select(func.count())
                .select_from(MemoryEntryRow)
                .where(MemoryEntryRow.created_at >= since, MemoryEntryRow.created_at < until)
            )
            in_range = (RecallLogRow.created_at >= since, RecallLogRow.created_at < until)
            recalls, (p95,) = await nearest_rank(tx, RecallLogRow.latency_ms, in_range, (0.95,))
        try:
            live: int | None = await self._working.store.live_sessions(now=now)
        except Unavailable:
            live = None
        return MemoryStats(
            since=since,
            until=until,
            entries=sum(per_category.values()),
            entries_added=added or 0,
            per_category=per_category,
            recalls=recalls,
            p95_recall_ms=p95,
            working_memory_sessions_live=live,
        )

    async def component_health(self) -> dict[str, ComponentHealth]:
        store = self._working.store
        try:
            await store.ping()
        except Unavailable as exc:
            return {
                "working_memory": ComponentHealth(ok=False, error=exc.message, detail=store.backend)
            }
        return {"working_memory": ComponentHealth(ok=True, detail=store.backend)}
