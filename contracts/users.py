"""Users: no module owns them (the JWT names them), but deleting one reaches every module.

`DELETE /v1/users/me` revokes the user's tokens and records a `UserDeletionRequested`
event; each module that keeps a user's data consumes it and deletes that data, and the
analytics read model forgets them.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

import msgspec

from .events import Event


class UserDeletionRequested(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "UserDeletionRequested"
    AGGREGATE: ClassVar[str] = "user"
    deletion_id: UUID
    requested_at: datetime
    requested_by: str  # the user themself, or the admin who asked

    def aggregate_id(self) -> str:
        return str(self.user_id)


class UserDeletion(msgspec.Struct, frozen=True, kw_only=True):
    """Accepted: every module deletes the user's data once it sees the event."""

    deletion_id: UUID
    user_id: str
    requested_at: datetime
    status: str = "accepted"


class UserDeletionProgress(msgspec.Struct, frozen=True, kw_only=True):
    deletion_id: UUID
    # Per module that keeps user data: `applied`, `pending`, or `dead_letter` (it failed;
    # see GET /v1/admin/events/dead-letters), wherever the module runs.
    modules: dict[str, str]
    complete: bool


class TokenRevocation(msgspec.Struct, frozen=True, kw_only=True):
    """Every token of `user_id` issued at or before `revoked_before` is refused (401)."""

    user_id: str
    revoked_before: datetime
    reason: str  # user_deleted | admin
