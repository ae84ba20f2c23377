"""The saga store's face: what the admin API shows of cross-module writes in flight."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from .errors import Conflict, NotFound
from .events import EventSource
from .users import TokenRevocation, UserDeletion

SagaState = Literal["running", "compensating", "succeeded", "compensated", "needs_attention"]
Phase = Literal["action", "compensation"]


class SagaStepRecord(msgspec.Struct, frozen=True, kw_only=True):
    step: str
    phase: Phase
    attempt: int
    outcome: Literal["succeeded", "failed"]
    started_at: datetime
    finished_at: datetime
    result: Any
    error: str | None


class Saga(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    saga_type: str
    state: SagaState
    payload: dict[str, Any]
    results: dict[str, Any]  # each completed action's result, by step
    current_step: str | None  # the step being done or undone; None when finished
    attempts: int  # of the current step
    last_error: str | None
    error_code: str | None  # the business error that started compensation, if any
    created_at: datetime
    updated_at: datetime
    history: list[SagaStepRecord] | None = None  # on the detail view


class SagaPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Saga]


class SagaNotFound(NotFound):
    """No saga with that id."""


class SagaNotRetryable(Conflict):
    """Only a saga that needs attention can be retried."""


@runtime_checkable
class SagaAdminAPI(EventSource, Protocol):
    async def list_sagas(self, *, state: SagaState | None = None, limit: int = 50) -> SagaPage:
        """Newest first."""
        ...

    async def claim_signin_link(self, *, link_id: str, expires_at: datetime) -> bool:
        """Mark a one-time sign-in link used; False if it was used before."""
        ...

    async def list_user_deletions(self, *, limit: int = 20) -> list[UserDeletion]:
        """The latest user deletions asked for, newest first (while their event is kept)."""
        ...

    async def count_by_state(self) -> dict[str, int]:
        """How many sagas are in each state (states with none are left out)."""
        ...

    async def get_saga(self, *, saga_id: UUID) -> Saga:
        """With the history of every step's action and compensation."""
        ...

    async def retry(self, *, saga_id: UUID) -> Saga:
        """Take up a saga in `needs_attention` again where it stopped."""
        ...

    async def request_user_deletion(self, *, user_id: str, requested_by: str) -> UserDeletion:
        """Record the request and publish it; each module forgets the user as it applies it."""
        ...

    async def revoke_tokens(self, *, user_id: str) -> TokenRevocation:
        """Refuse every token of the user issued until now, in every worker, at once."""
        ...

    async def tokens_valid_after(self, *, user_id: str) -> datetime | None:
        """Tokens issued at or before this time are revoked; None when none are."""
        ...
