"""`GET /v1/sessions/{id}/context`: what an agent needs before it answers, in one call.

The session itself must be the caller's (else 404); its last messages, its working memory
and the user's most relevant memories are parts that may each fail on their own.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from uuid import UUID

import msgspec

from contracts.conversation import Message, Session
from contracts.memory import RecallQuery, WorkingMemory
from contracts.record import Contracts

from .parts import Part, PartCall, gather_parts


class SessionContext(msgspec.Struct, frozen=True, kw_only=True):
    session: Session
    parts: dict[str, Part]  # messages, working_memory, memories


async def session_context(
    contracts: Contracts,
    session_id: UUID,
    user_id: str,
    *,
    messages: int,
    memories: int,
    timeout_s: float,
) -> SessionContext:
    conversation, memory = contracts.conversation, contracts.memory
    session = await conversation.get_session(session_id=session_id, user_id=user_id)

    def recent() -> Awaitable[list[Message]]:
        return conversation.recent_messages(session_id=session_id, user_id=user_id, limit=messages)

    def working() -> Awaitable[WorkingMemory]:
        return memory.working_memory(session_id=session_id, user_id=user_id)

    first = await gather_parts({"messages": recent, "working_memory": working}, timeout_s)
    query = _recall_query(session, first["messages"])

    relevant: PartCall = None  # nothing to recall by: the part says it was not asked
    if query:
        relevant = partial(
            memory.recall, user_id=user_id, query=RecallQuery(query=query, limit=memories)
        )
    second = await gather_parts({"memories": relevant}, timeout_s)
    return SessionContext(session=session, parts={**first, **second})


def _recall_query(session: Session, messages: Part) -> str | None:
    """What the user said last, else the session's title."""
    if messages.ok:
        said: list[str] = [m.content for m in messages.data if m.role == "user"]
        if said:
            return said[-1][:2000]
    return session.title
