"""The tools module's tables. Private: other modules ask `ToolsAPI`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.columns import UTCDateTime
from app.kernel.events import add_event_tables

metadata = MetaData()
# outbox, inbox and dead_letters: this module's side of events (app/kernel/events).
EVENT_TABLES = add_event_tables(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class ToolRow(Base):
    """One version of a tool: a new version is a new row, old ones stay callable."""

    __tablename__ = "tools"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_tools_name_version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    runtime: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    timeout_s: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)
    read_only: Mapped[bool] = mapped_column(Boolean)
    destructive: Mapped[bool] = mapped_column(Boolean)
    open_world: Mapped[bool] = mapped_column(Boolean)
    rate_limit_calls: Mapped[int | None] = mapped_column(Integer)  # NULL: the settings
    rate_limit_window_s: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    builtin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExecutionRow(Base):
    """The audit log: one row per call, whatever became of it."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_created_at", "created_at", "id"),
        Index("ix_executions_tool_created_at", "tool_name", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The version that was asked for; no foreign key, so the log outlives the registry.
    tool_id: Mapped[uuid.UUID | None] = mapped_column()
    tool_name: Mapped[str] = mapped_column(String(200))
    tool_version: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    params: Mapped[Any] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    stdout: Mapped[str | None] = mapped_column(Text)  # the first bytes only
    stdout_bytes: Mapped[int | None] = mapped_column(Integer)
    stdout_sha256: Mapped[str | None] = mapped_column(String(64))
    stdout_truncated: Mapped[bool | None] = mapped_column(Boolean)
    stderr: Mapped[str | None] = mapped_column(Text)
    stderr_bytes: Mapped[int | None] = mapped_column(Integer)
    stderr_sha256: Mapped[str | None] = mapped_column(String(64))
    stderr_truncated: Mapped[bool | None] = mapped_column(Boolean)
    cpu_ms: Mapped[int | None] = mapped_column(Integer)
    max_rss_kb: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateLimitRow(Base):
    """Calls per fixed window; two adjacent windows give the sliding estimate.

    Keyed by tool, client and user: one user's calls never use up another's. Refused calls
    count under the tool name `REFUSALS`. Kept when a user is deleted: an abuse counter.
    """

    __tablename__ = "rate_limits"

    # Keyed by name, not version: pinning an old version must not dodge the limit.
    tool_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ClientPolicyRow(Base):
    """An admin-set allow-list; it replaces the settings' list for that client."""

    __tablename__ = "client_policies"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    allowed_tools: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
