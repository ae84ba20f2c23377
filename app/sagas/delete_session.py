"""The delete-session saga: the create-session saga in reverse, forward only.

    1. billing.release_session
    2. memory.cleanup
    3. conversation.delete_session

Each step is idempotent and there is nothing sensible to undo, so a step that keeps
failing puts the saga in `needs_attention` for an admin to retry. Payload: user_id,
session_id.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from .definition import SagaType, Step, StepCall


async def release_billing(call: StepCall) -> Any:
    await call.contracts.billing.release_session(
        session_id=UUID(call.payload["session_id"]), idempotency_key=call.idempotency_key
    )
    return {}


async def cleanup_memory(call: StepCall) -> Any:
    await call.contracts.memory.cleanup(
        session_id=UUID(call.payload["session_id"]), idempotency_key=call.idempotency_key
    )
    return {}


async def delete_conversation(call: StepCall) -> Any:
    await call.contracts.conversation.delete_session(
        session_id=UUID(call.payload["session_id"]), user_id=call.payload["user_id"]
    )
    return {}


DELETE_SESSION = SagaType(
    name="delete_session",
    modules=("conversation", "memory", "billing"),
    steps=(
        Step("release_billing", release_billing),
        Step("cleanup_memory", cleanup_memory),
        Step("delete_conversation", delete_conversation),
    ),
)
