"""BillingService: implements `contracts.billing.BillingAPI`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

import msgspec
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.events import EventHandlers, Outbox, ReplaysOutbox, user_of
from app.kernel.settings import Settings
from app.kernel.validation import validated
from contracts.billing import (
    BillingStats,
    Quota,
    QuotaExceeded,
    QuotaUpdate,
    SessionRegistered,
    SessionRegistration,
    SessionReleased,
    UsageSummary,
)
from contracts.errors import Conflict
from contracts.events import EventEnvelope
from contracts.users import UserDeletionRequested

from .models import EVENT_TABLES, SESSION_REGISTERED, SESSION_RELEASED, QuotaRow, UsageRow
from .settings import BillingSettings


class BillingService(ReplaysOutbox):
    def __init__(self, database: ModuleDatabase, settings: Settings) -> None:
        self._db = database.claim("billing")
        self._outbox = Outbox("billing", EVENT_TABLES)
        plan = settings.of(BillingSettings)
        self._default_active = plan.default_max_active_sessions
        self._default_per_day = plan.default_max_sessions_per_day

    async def register_session(
        self, *, user_id: str, session_id: uuid.UUID, idempotency_key: str
    ) -> SessionRegistration:
        async with self._db.transaction() as tx:
            if replayed := await _replayed(tx, idempotency_key, SESSION_REGISTERED):
                return await _registration(
                    tx, replayed.session_id or session_id
                )  # rows of sessions name one
            if await _entry(tx, session_id, SESSION_REGISTERED) is not None:
                return await _registration(tx, session_id)
            quota = await self._lock_quota(tx, user_id)
            summary = await self._usage(tx, user_id, quota)
            if summary.active_sessions >= quota.max_active_sessions:
                raise QuotaExceeded(
                    f"{summary.active_sessions} active sessions; the quota allows "
                    f"{quota.max_active_sessions}. Close or delete one first."
                )
            if summary.sessions_today >= quota.max_sessions_per_day:
                raise QuotaExceeded(
                    f"{summary.sessions_today} sessions started today (UTC); the quota allows "
                    f"{quota.max_sessions_per_day} per day."
                )
            row = _usage_row(user_id, session_id, SESSION_REGISTERED, idempotency_key)
            tx.add(row)
            await self._outbox.add(
                tx,
                SessionRegistered(
                    user_id=user_id, session_id=session_id, registered_at=row.created_at
                ),
                occurred_at=row.created_at,
            )
        async with self._db.read() as tx:
            return await _registration(tx, session_id)

    async def release_session(
        self, *, session_id: uuid.UUID, idempotency_key: str
    ) -> SessionRegistration | None:
        async with self._db.transaction() as tx:
            if replayed := await _replayed(tx, idempotency_key, SESSION_RELEASED):
                return await _registration(
                    tx, replayed.session_id or session_id
                )  # rows of sessions name one
            registered = await _entry(tx, session_id, SESSION_REGISTERED)
            if registered is None:
                return None  # compensating a registration that never happened
            if await _entry(tx, session_id, SESSION_RELEASED) is None:
                row = _usage_row(registered.user_id, session_id, SESSION_RELEASED, idempotency_key)
                tx.add(row)
                await self._outbox.add(
                    tx,
                    SessionReleased(
                        user_id=row.user_id, session_id=session_id, released_at=row.created_at
                    ),
                    occurred_at=row.created_at,
                )
                await tx.flush()
            return await _registration(tx, session_id)

    async def stats(self, *, since: datetime, until: datetime) -> BillingStats:
        in_range = (UsageRow.created_at >= since, UsageRow.created_at < until)
        async with self._db.read() as tx:
            by_kind = dict(
                (
                    await tx.execute(
                        select(UsageRow.kind, func.count()).where(*in_range).group_by(UsageRow.kind)
                    )
                ).all()
            )
            users = await tx.scalar(
                select(func.count(func.distinct(UsageRow.user_id))).where(
                    *in_range, UsageRow.kind == SESSION_REGISTERED
                )
            )
            total = dict(
                (
                    await tx.execute(select(UsageRow.kind, func.count()).group_by(UsageRow.kind))
                ).all()
            )
        return BillingStats(
            since=since,
            until=until,
            sessions_registered=by_kind.get(SESSION_REGISTERED, 0),
            sessions_released=by_kind.get(SESSION_RELEASED, 0),
            active_sessions=total.get(SESSION_REGISTERED, 0) - total.get(SESSION_RELEASED, 0),
            users=users or 0,
        )

    async def usage_summary(self, *, user_id: str) -> UsageSummary:
        async with self._db.read() as tx:
            quota = self._quota(user_id, await tx.get(QuotaRow, user_id))
            return await self._usage(tx, user_id, quota)

    async def get_quota(self, *, user_id: str) -> Quota:
        async with self._db.read() as tx:
            return self._quota(user_id, await tx.get(QuotaRow, user_id))

    async def set_quota(self, *, user_id: str, update: QuotaUpdate) -> Quota:
        update = validated(update)
        async with self._db.transaction() as tx:
            row = await tx.get(QuotaRow, user_id)
            if row is None:
                row = QuotaRow(user_id=user_id)
                tx.add(row)
            if update.max_active_sessions is not msgspec.UNSET:
                row.max_active_sessions = update.max_active_sessions
            if update.max_sessions_per_day is not msgspec.UNSET:
                row.max_sessions_per_day = update.max_sessions_per_day
            row.updated_at = utcnow()
            return self._quota(user_id, row)

    # -- events ------------------------------------------------------------------------

    def event_handlers(self) -> EventHandlers:
        return EventHandlers().on(UserDeletionRequested, self._forget_user)

    async def _forget_user(
        self, tx: AsyncSession, event: UserDeletionRequested, _: EventEnvelope
    ) -> None:
        """The ledger and the quota stay: they hold no content, only ids, counts and times,
        and deleting them would hand the same user a fresh plan. The user's sessions are
        gone with the conversation module's data, so the ledger releases those still open."""
        user_id = user_of(event)
        of_user = UsageRow.user_id == user_id
        registered = set(
            await tx.scalars(
                select(UsageRow.session_id).where(of_user, UsageRow.kind == SESSION_REGISTERED)
            )
        )
        released = set(
            await tx.scalars(
                select(UsageRow.session_id).where(of_user, UsageRow.kind == SESSION_RELEASED)
            )
        )
        for session_id in registered - released:
            if session_id is not None:
                key = f"user-deleted:{event.deletion_id}:{session_id}"
                tx.add(_usage_row(user_id, session_id, SESSION_RELEASED, key))
        await self._outbox.forget_user(tx, user_id)

    async def _lock_quota(self, tx: AsyncSession, user_id: str) -> Quota:
        """Serialise registrations of one user: two concurrent ones cannot both fit.

        SQLite already holds the database write lock (BEGIN IMMEDIATE); PostgreSQL locks
        the user's quota row, created on first use with the default plan (NULLs).
        """
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        await tx.execute(
            insert(QuotaRow)
            .values(user_id=user_id, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        row = await tx.scalar(select(QuotaRow).where(QuotaRow.user_id == user_id).with_for_update())
        return self._quota(user_id, row)

    async def _usage(self, tx: AsyncSession, user_id: str, quota: Quota) -> UsageSummary:
        midnight = datetime.combine(utcnow().date(), time(), tzinfo=UTC)
        counts = dict(
            (
                await tx.execute(
                    select(UsageRow.kind, func.count())
                    .where(UsageRow.user_id == user_id)
                    .group_by(UsageRow.kind)
                )
            ).all()
        )
        today = await tx.scalar(
            select(func.count()).where(
                UsageRow.user_id == user_id,
                UsageRow.kind == SESSION_REGISTERED,
                UsageRow.created_at >= midnight,
            )
        )
        registered = counts.get(SESSION_REGISTERED, 0)
        return UsageSummary(
            user_id=user_id,
            active_sessions=registered - counts.get(SESSION_RELEASED, 0),
            sessions_today=today or 0,
            sessions_total=registered,
            quota=quota,
        )

    def _quota(self, user_id: str, row: QuotaRow | None) -> Quota:
        active = row.max_active_sessions if row else None
        per_day = row.max_sessions_per_day if row else None
        return Quota(
            user_id=user_id,
            max_active_sessions=self._default_active if active is None else active,
            max_sessions_per_day=self._default_per_day if per_day is None else per_day,
            is_default=active is None and per_day is None,
        )


async def _replayed(tx: AsyncSession, key: str, kind: str) -> UsageRow | None:
    """The entry `key` already wrote; `Conflict` if it was spent on another kind."""
    row = await tx.scalar(select(UsageRow).where(UsageRow.idempotency_key == key))
    if row is not None and row.kind != kind:
        raise Conflict(f"idempotency key {key!r} was already used for {row.kind}")
    return row


async def _entry(tx: AsyncSession, session_id: uuid.UUID, kind: str) -> UsageRow | None:
    return await tx.scalar(
        select(UsageRow).where(UsageRow.session_id == session_id, UsageRow.kind == kind)
    )


async def _registration(tx: AsyncSession, session_id: uuid.UUID) -> SessionRegistration:
    registered = await _entry(tx, session_id, SESSION_REGISTERED)
    assert registered is not None, "called only once the session is registered"
    released = await _entry(tx, session_id, SESSION_RELEASED)
    return SessionRegistration(
        session_id=session_id,
        user_id=registered.user_id,
        registered_at=registered.created_at,
        released_at=released.created_at if released else None,
    )


def _usage_row(user_id: str, session_id: uuid.UUID, kind: str, key: str) -> UsageRow:
    return UsageRow(
        id=uuid.uuid4(),
        user_id=user_id,
        session_id=session_id,
        kind=kind,
        quantity=1,
        idempotency_key=key,
        created_at=utcnow(),
    )
