"""The analytics read model: denormalised tables built only from events.

Rows are kept per user and day (and per tool), so a report is a sum, and forgetting a
user is deleting their rows: the model then equals one rebuilt from the retained events,
in which that user no longer appears.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.columns import UTCDateTime
from app.kernel.events import add_event_tables

metadata = MetaData()
# outbox, inbox and dead_letters: this module's side of events (app/kernel/events).
EVENT_TABLES = add_event_tables(metadata)
UNATTRIBUTED = ""  # the user of events that have none (ingests, searches)


class Base(DeclarativeBase):
    metadata = metadata


class UsageByDayRow(Base):
    __tablename__ = "usage_by_day"
    __table_args__ = (Index("ix_usage_by_day_day", "day"),)

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sessions_created: Mapped[int] = mapped_column(Integer, default=0)
    sessions_deleted: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    routing_decisions: Mapped[int] = mapped_column(Integer, default=0)
    documents_ingested: Mapped[int] = mapped_column(Integer, default=0)
    memories_added: Mapped[int] = mapped_column(Integer, default=0)
    memories_deleted: Mapped[int] = mapped_column(Integer, default=0)


class ToolCallsByDayRow(Base):
    __tablename__ = "tool_calls_by_day"
    __table_args__ = (Index("ix_tool_calls_by_day_day", "day"),)

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)  # summed over runs


class RetrievalSampleRow(Base):
    """One per search: percentiles need the samples, not a sum."""

    __tablename__ = "retrieval_samples"
    __table_args__ = (Index("ix_retrieval_samples_day", "day"),)

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    day: Mapped[date] = mapped_column(Date)
    latency_ms: Mapped[float] = mapped_column(Float)


class SourcePositionRow(Base):
    """How far the model has got in each module's events."""

    __tablename__ = "source_positions"

    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_position: Mapped[int] = mapped_column(BigInteger)  # the highest applied
    last_occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    events_applied: Mapped[int] = mapped_column(BigInteger)
