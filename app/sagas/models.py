"""The saga store's tables, in its own database (never a module's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.columns import UTCDateTime
from app.kernel.events import add_event_tables
from app.kernel.telemetry.tracing import TRACEPARENT_LENGTH

metadata = MetaData()
# outbox, inbox and dead_letters: this module's side of events (app/kernel/events).
EVENT_TABLES = add_event_tables(metadata)


class Base(DeclarativeBase):
    metadata = metadata


class SagaRow(Base):
    __tablename__ = "saga_instances"
    __table_args__ = (
        Index("ix_saga_instances_state", "state", "lease_expires_at"),
        Index("ix_saga_instances_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    saga_type: Mapped[str] = mapped_column(String(64))
    # A caller's idempotency key: a retried request finds the saga it started.
    request_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    state: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)
    phase: Mapped[str] = mapped_column(String(16))  # action | compensation
    step_index: Mapped[int] = mapped_column(Integer)  # the step being done or undone
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(100))
    # The W3C traceparent of the request that started it: its steps continue that trace.
    trace_context: Mapped[str | None] = mapped_column(String(TRACEPARENT_LENGTH))
    # Which process runs it, until when: another takes it up only after expiry.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SagaStepRow(Base):
    """History: one row per attempt of an action or a compensation."""

    __tablename__ = "saga_steps"
    __table_args__ = (Index("ix_saga_steps_saga", "saga_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    saga_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("saga_instances.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    result: Mapped[Any] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenRevocationRow(Base):
    """Tokens of this user issued at or before `revoked_before` are refused by every worker.

    Kept beside user deletion, which writes it in the same transaction as its event.
    """

    __tablename__ = "token_revocations"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    revoked_before: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(32))  # user_deleted | admin


class SigninLinkRow(Base):
    """A console sign-in link that was used: each works once (`bulkhead console`)."""

    __tablename__ = "used_signin_links"

    link_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
