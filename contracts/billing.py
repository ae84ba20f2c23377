"""The billing module's face: session usage against each user's quota."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from .errors import LimitExceeded
from .events import Event, EventSource

QuotaLimit = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SessionRegistration(msgspec.Struct, frozen=True, kw_only=True):
    session_id: UUID
    user_id: str
    registered_at: datetime
    released_at: datetime | None


class Quota(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    max_active_sessions: int
    max_sessions_per_day: int
    is_default: bool  # True: the plan from settings, never set for this user


class QuotaUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_active_sessions: QuotaLimit | msgspec.UnsetType = msgspec.UNSET
    max_sessions_per_day: QuotaLimit | msgspec.UnsetType = msgspec.UNSET


class UsageSummary(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    active_sessions: int
    sessions_today: int  # registered since 00:00 UTC
    sessions_total: int
    quota: Quota


class BillingStats(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    sessions_registered: int  # in the range
    sessions_released: int  # in the range
    active_sessions: int  # now, all users
    users: int  # with a registration in the range


class QuotaExceeded(LimitExceeded):
    """Registering one more session would pass the user's quota; nothing was recorded."""


# -- events -----------------------------------------------------------------------------


class SessionRegistered(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "SessionRegistered"
    AGGREGATE: ClassVar[str] = "session"
    session_id: UUID
    registered_at: datetime

    def aggregate_id(self) -> str:
        return str(self.session_id)


class SessionReleased(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "SessionReleased"
    AGGREGATE: ClassVar[str] = "session"
    session_id: UUID
    released_at: datetime

    def aggregate_id(self) -> str:
        return str(self.session_id)


@runtime_checkable  # Litestar checks injected dependencies against their annotation
class BillingAPI(EventSource, Protocol):
    async def register_session(
        self, *, user_id: str, session_id: UUID, idempotency_key: IdempotencyKey
    ) -> SessionRegistration:
        """Count a new session against the user's quota. Raises `QuotaExceeded` (and
        records nothing) when over it. Idempotent by key and by session id."""
        ...

    async def release_session(
        self, *, session_id: UUID, idempotency_key: IdempotencyKey
    ) -> SessionRegistration | None:
        """Undo `register_session` (a saga's compensation, or a session ending).
        Idempotent; releasing a session never registered returns None."""
        ...

    async def usage_summary(self, *, user_id: str) -> UsageSummary: ...

    async def get_quota(self, *, user_id: str) -> Quota: ...

    async def set_quota(self, *, user_id: str, update: QuotaUpdate) -> Quota:
        """Fields left unset keep their value; an admin operation."""
        ...

    async def stats(self, *, since: datetime, until: datetime) -> BillingStats:
        """Registrations and releases in [since, until), across all users (an admin view)."""
        ...
