"""What a session saga's caller is told: the session, the business error, or "pending"."""

from __future__ import annotations

from uuid import UUID

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from contracts.errors import ContractError, Unavailable
from contracts.sagas import Saga


class SagaPending(msgspec.Struct, frozen=True, kw_only=True):
    """Still retrying past the request's deadline (or waiting for an admin)."""

    saga_id: UUID
    state: str
    detail: str = "the saga is still running; it finishes in the background"

    @staticmethod
    def response_spec() -> ResponseSpec:
        return ResponseSpec(data_container=SagaPending, description="still in progress")


class SessionNotCreated(Unavailable):
    """The saga gave up after retries and undid what it had done."""


def session_saga_outcome(saga: Saga, business_error: ContractError | None) -> UUID | SagaPending:
    """The created session's id, or raise the error that undid it, or pending."""
    if saga.state == "succeeded":
        return UUID(saga.results["create_conversation"]["session_id"])
    if saga.state == "compensated":
        if business_error is not None:
            raise business_error
        raise SessionNotCreated(
            f"the session was not created ({saga.error_code}: {saga.last_error}); nothing "
            "of it was kept, try again",
            details={"saga_id": str(saga.id)},
        )
    return SagaPending(saga_id=saga.id, state=saga.state)
