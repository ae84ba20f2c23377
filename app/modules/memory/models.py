"""The memory module's long-term tables. Private: other modules ask `MemoryAPI`.

Working memory's contents live in Redis when it is configured, else in this database
(`working_memory_contents`, `database_store.py`): a restart loses nothing either way.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.columns import UTCDateTime
from app.kernel.events import add_event_tables
from app.kernel.vector_column import VectorColumn

metadata = MetaData()
# outbox, inbox and dead_letters: this module's side of events (app/kernel/events).
EVENT_TABLES = add_event_tables(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class MemoryEntryRow(Base):
    """One version of a memory. A new version gets a new row; the old one is closed
    (`valid_to`, `superseded_by`) and kept."""

    __tablename__ = "memory_entries"
    __table_args__ = (
        Index("ix_memory_entries_user_created", "user_id", "created_at", "id"),
        Index("ix_memory_entries_root", "root_id"),
        # Exact duplicates merge: one current memory per user and content.
        Index(
            "uq_memory_entries_current_content",
            "user_id",
            "content_hash",
            unique=True,
            sqlite_where=text("superseded_by IS NULL"),
            postgresql_where=text("superseded_by IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    root_id: Mapped[uuid.UUID] = mapped_column()  # the first version's id
    user_id: Mapped[str] = mapped_column(String(128))
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    importance: Mapped[float] = mapped_column(Float)
    embedding: Mapped[Any] = mapped_column(VectorColumn)
    model_name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_session_id: Mapped[uuid.UUID | None] = mapped_column()  # conversation's id
    access_count: Mapped[int] = mapped_column(Integer)
    last_accessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    superseded_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemoryRelationshipRow(Base):
    """An edge between two memories, by their first versions' ids: it holds across updates."""

    __tablename__ = "memory_relationships"
    __table_args__ = (
        UniqueConstraint("source_id", "target_id", "relation_type", name="uq_memory_relationship"),
        Index("ix_memory_relationships_target", "target_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("memory_entries.id", ondelete="CASCADE")
    )
    target_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("memory_entries.id", ondelete="CASCADE")
    )
    relation_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkingSessionRow(Base):
    """Whose session a working memory belongs to: durable, so ownership holds even when
    the working-memory store is down or has expired the contents."""

    __tablename__ = "working_sessions"

    session_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkingMemoryContentsRow(Base):
    """A session's working memory where no Redis is configured: its items (each encoded by
    the caller, kept as a msgpack list) and when it expires unless used."""

    __tablename__ = "working_memory_contents"
    __table_args__ = (Index("ix_working_memory_contents_expires_at", "expires_at"),)

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    items: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKeyRow(Base):
    """Keys of `initialize` / `cleanup` calls already carried out: a repeat changes nothing."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecallLogRow(Base):
    __tablename__ = "recall_logs"
    __table_args__ = (Index("ix_recall_logs_created_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    results: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
