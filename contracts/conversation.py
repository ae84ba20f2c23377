"""The conversation module's face: sessions, their messages and routing decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable
from uuid import UUID

import msgspec

from .errors import Conflict, InvalidInput, NotFound
from .events import Event, EventSource
from .paging import DEFAULT_PAGE_LIMIT

SessionStatus = Literal["open", "closed"]
Role = Literal["user", "assistant", "system", "tool"]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=200_000)]
Intent = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
ToolName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Session(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    user_id: str
    title: str | None
    status: SessionStatus
    metadata: dict[str, Any]
    message_count: int
    created_at: datetime
    updated_at: datetime


class SessionCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: Title | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class SessionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Session]
    next_cursor: str | None  # None: this was the last page


class Message(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    session_id: UUID
    seq: int  # 1, 2, 3 ... per session: the stable order of the conversation
    role: Role
    content: str
    tokens: int
    token_encoding: str  # the tokenizer that counted `tokens`, e.g. "o200k_base"
    created_at: datetime


class MessageCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: Role
    content: Content


class MessagePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Message]
    next_cursor: str | None


class RoutingDecision(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    message_id: UUID
    intent: str
    confidence: float
    tool_name: str | None  # as recorded: the tool may have been deleted since
    tool_version: int | None
    created_at: datetime


class RoutingDecisionCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    intent: Intent
    confidence: Confidence
    tool_name: ToolName | None = None
    tool_version: Annotated[int, msgspec.Meta(ge=1)] | None = None  # needs tool_name


class ConversationStats(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime
    sessions_created: int
    messages: int
    tokens: int
    decisions_by_intent: dict[str, int]


class SessionNotFound(NotFound):
    """No session with that id belongs to the caller."""


class MessageNotFound(NotFound):
    """No message with that id is in a session of the caller."""


class RoutingDecisionNotFound(NotFound):
    """The message has no routing decision (or is not the caller's)."""


class UnknownTool(InvalidInput):
    """A routing decision names a tool (or version) the tools module does not have."""


class SessionClosed(Conflict):
    """The session is closed; it takes no more messages."""


class RoutingDecisionExists(Conflict):
    """The message already has its routing decision."""


# -- events -----------------------------------------------------------------------------


class SessionCreated(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "SessionCreated"
    AGGREGATE: ClassVar[str] = "session"
    session_id: UUID
    title: str | None
    created_at: datetime

    def aggregate_id(self) -> str:
        return str(self.session_id)


class SessionDeleted(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "SessionDeleted"
    AGGREGATE: ClassVar[str] = "session"
    session_id: UUID
    deleted_at: datetime

    def aggregate_id(self) -> str:
        return str(self.session_id)


class MessageAppended(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "MessageAppended"
    AGGREGATE: ClassVar[str] = "session"
    session_id: UUID
    message_id: UUID
    seq: int
    role: str
    content: str
    tokens: int
    created_at: datetime

    def aggregate_id(self) -> str:
        return str(self.session_id)


class RoutingDecided(Event, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "RoutingDecided"
    AGGREGATE: ClassVar[str] = "session"
    session_id: UUID
    message_id: UUID
    intent: str
    confidence: float
    tool_name: str | None
    created_at: datetime

    def aggregate_id(self) -> str:
        return str(self.session_id)


@runtime_checkable  # Litestar checks injected dependencies against their annotation
class ConversationAPI(EventSource, Protocol):
    async def create_session(
        self, *, user_id: str, session: SessionCreate, idempotency_key: IdempotencyKey | None = None
    ) -> Session:
        """Open a session. A repeated call with the same key returns the first session."""
        ...

    async def get_session(self, *, session_id: UUID, user_id: str) -> Session:
        """Raises `SessionNotFound` for a missing, deleted or another user's session."""
        ...

    async def list_sessions(
        self, *, user_id: str, cursor: str | None = None, limit: int = DEFAULT_PAGE_LIMIT
    ) -> SessionPage:
        """Newest first. Raises `InvalidCursor` for a cursor this listing did not issue."""
        ...

    async def close_session(self, *, session_id: UUID, user_id: str) -> Session:
        """Closing a closed session is a no-op that returns it."""
        ...

    async def delete_session(self, *, session_id: UUID, user_id: str) -> None:
        """Remove the session with its messages and decisions. Idempotent: deleting it
        again succeeds; raises `SessionNotFound` only for a session the caller never had."""
        ...

    async def append_message(
        self, *, session_id: UUID, user_id: str, message: MessageCreate
    ) -> Message:
        """Append at the end (`seq` one past the last). Raises `SessionClosed`."""
        ...

    async def list_messages(
        self,
        *,
        session_id: UUID,
        user_id: str,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> MessagePage:
        """Oldest first, by `seq`."""
        ...

    async def recent_messages(
        self, *, session_id: UUID, user_id: str, limit: int = 20
    ) -> list[Message]:
        """The last `limit` messages (1-200), oldest first."""
        ...

    async def record_routing_decision(
        self, *, message_id: UUID, user_id: str, decision: RoutingDecisionCreate
    ) -> RoutingDecision:
        """One decision per message; a second raises `RoutingDecisionExists`. A named
        tool must exist in the tools module when stored (`UnknownTool` otherwise)."""
        ...

    async def get_routing_decision(self, *, message_id: UUID, user_id: str) -> RoutingDecision:
        """The message's decision; raises `RoutingDecisionNotFound`."""
        ...

    async def stats(self, *, since: datetime, until: datetime) -> ConversationStats:
        """Counts over [since, until), across all users (an admin view)."""
        ...
