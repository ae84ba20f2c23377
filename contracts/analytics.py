"""The analytics module's face: a reporting read model fed only by other modules' events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, runtime_checkable

import msgspec

from .events import EventEnvelope, EventSource


class DailyActivity(msgspec.Struct, frozen=True, kw_only=True):
    day: date
    sessions_created: int
    sessions_deleted: int
    messages: int
    tokens: int
    routing_decisions: int
    tool_calls: int
    searches: int
    documents_ingested: int
    memories_added: int
    memories_deleted: int


class ToolUsage(msgspec.Struct, frozen=True, kw_only=True):
    tool_name: str
    calls: int
    succeeded: int
    success_rate: float  # succeeded / calls
    mean_duration_ms: float | None  # of the calls that ran


class RetrievalLatency(msgspec.Struct, frozen=True, kw_only=True):
    searches: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class UserUsage(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    sessions_created: int
    messages: int
    tokens: int
    tool_calls: int
    memories_added: int


class SourcePosition(msgspec.Struct, frozen=True, kw_only=True):
    source: str  # the module whose events these are
    last_position: int  # the highest outbox position applied
    last_event_at: datetime
    events_applied: int


class AnalyticsReport(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    days: list[DailyActivity]  # oldest first; days without activity are left out
    tools: list[ToolUsage]  # most called first
    retrieval: RetrievalLatency
    memory_growth: int  # memories added minus deleted in the range
    top_users: list[UserUsage]  # by messages, at most 20
    sources: list[SourcePosition]
    # Now minus the time of the oldest event not yet applied; None where unknown (the
    # model is read in a process that does not relay the modules' events).
    consistency_lag_s: float | None = None


@runtime_checkable  # Litestar checks injected dependencies against their annotation
class AnalyticsAPI(EventSource, Protocol):
    async def report(self, *, since: datetime, until: datetime) -> AnalyticsReport: ...

    async def reset(self) -> None:
        """Empty the read model and forget which events it applied (before a rebuild)."""
        ...

    async def apply_events(self, *, events: list[EventEnvelope]) -> int:
        """Apply replayed events, each at most once; return how many were new to it."""
        ...
