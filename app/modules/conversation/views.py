"""Rows to the contract's DTOs: what the conversation module answers with."""

from __future__ import annotations

from contracts.conversation import Message, RoutingDecision, Session

from .models import MessageRow, RoutingDecisionRow, SessionRow
from .tokens import TOKEN_ENCODING


def to_session(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        status="open" if row.status == "open" else "closed",
        metadata=row.meta,
        message_count=row.message_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        session_id=row.session_id,
        seq=row.seq,
        role=row.role,  # type: ignore[arg-type]  # stored from a validated Role
        content=row.content,
        tokens=row.tokens,
        token_encoding=TOKEN_ENCODING,
        created_at=row.created_at,
    )


def to_decision(row: RoutingDecisionRow) -> RoutingDecision:
    return RoutingDecision(
        id=row.id,
        message_id=row.message_id,
        intent=row.intent,
        confidence=row.confidence,
        tool_name=row.tool_name,
        tool_version=row.tool_version,
        created_at=row.created_at,
    )
