"""The billing module's tables. Private: other modules ask `BillingAPI`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.columns import UTCDateTime
from app.kernel.events import add_event_tables

metadata = MetaData()
# outbox, inbox and dead_letters: this module's side of events (app/kernel/events).
EVENT_TABLES = add_event_tables(metadata)

SESSION_REGISTERED = "session.registered"
SESSION_RELEASED = "session.released"


class Base(DeclarativeBase):
    metadata = metadata


class UsageRow(Base):
    """An append-only ledger: a session counts while it is registered and not released."""

    __tablename__ = "usage"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", name="uq_usage_session_kind"),
        UniqueConstraint("idempotency_key", name="uq_usage_idempotency_key"),
        Index("ix_usage_user_kind_created_at", "user_id", "kind", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    # A session of the conversation module: an id checked by the saga, never a foreign key.
    session_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuotaRow(Base):
    """A user's limits; NULL means "the default plan from settings", which may change."""

    __tablename__ = "quotas"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    max_active_sessions: Mapped[int | None] = mapped_column(Integer)
    max_sessions_per_day: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
