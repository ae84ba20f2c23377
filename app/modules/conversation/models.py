"""The conversation module's tables. Private: other modules ask `ConversationAPI`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
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


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_sessions_user_idempotency_key"),
        Index("ix_sessions_user_listing", "user_id", "created_at", "id"),
        Index("ix_sessions_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # open | closed | deleted (a tombstone)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    message_count: Mapped[int] = mapped_column(Integer, default=0)  # also the last seq
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoutingDecisionRow(Base):
    __tablename__ = "routing_decisions"
    __table_args__ = (Index("ix_routing_decisions_created_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    intent: Mapped[str] = mapped_column(String(100))
    confidence: Mapped[float] = mapped_column(Float)
    # A name in the tools module: checked when stored, never a foreign key across modules.
    tool_name: Mapped[str | None] = mapped_column(String(200))
    tool_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
