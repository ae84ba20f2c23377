"""The create-session saga: a session exists in all three modules, or in none.

    1. conversation.create_session   undo: conversation.delete_session
    2. memory.initialize             undo: memory.cleanup
    3. billing.register_session      undo: billing.release_session

A quota refusal at step 3 undoes 2 and 1. Payload: user_id, title, metadata.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.conversation import SessionCreate

from .definition import SagaType, Step, StepCall


async def create_conversation(call: StepCall) -> Any:
    session = await call.contracts.conversation.create_session(
        user_id=call.payload["user_id"],
        session=SessionCreate(
            title=call.payload.get("title"), metadata=call.payload.get("metadata", {})
        ),
        idempotency_key=call.idempotency_key,
    )
    return {"session_id": str(session.id)}


async def delete_conversation(call: StepCall) -> None:
    await call.contracts.conversation.delete_session(
        session_id=_session_id(call), user_id=call.payload["user_id"]
    )


async def initialize_memory(call: StepCall) -> Any:
    await call.contracts.memory.initialize(
        session_id=_session_id(call),
        user_id=call.payload["user_id"],
        idempotency_key=call.idempotency_key,
    )
    return {}


async def cleanup_memory(call: StepCall) -> None:
    await call.contracts.memory.cleanup(
        session_id=_session_id(call), idempotency_key=call.idempotency_key
    )


async def register_billing(call: StepCall) -> Any:
    registration = await call.contracts.billing.register_session(
        user_id=call.payload["user_id"],
        session_id=_session_id(call),
        idempotency_key=call.idempotency_key,
    )
    return {"registered_at": registration.registered_at.isoformat()}


async def release_billing(call: StepCall) -> None:
    await call.contracts.billing.release_session(
        session_id=_session_id(call), idempotency_key=call.idempotency_key
    )


def _session_id(call: StepCall) -> UUID:
    return UUID(call.results["create_conversation"]["session_id"])


CREATE_SESSION = SagaType(
    name="create_session",
    modules=("conversation", "memory", "billing"),
    steps=(
        Step("create_conversation", create_conversation, delete_conversation),
        Step("initialize_memory", initialize_memory, cleanup_memory),
        Step("register_billing", register_billing, release_billing),
    ),
)
