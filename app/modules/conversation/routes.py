"""HTTP face of the conversation module: thin, it parses, calls the contract, answers."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.kernel.auth import requires_admin
from app.kernel.route_params import AuthRequest, Cursor, Limit
from app.kernel.time_range import StatsRange, parse_range
from contracts.conversation import (
    ConversationAPI,
    ConversationStats,
    Message,
    MessageCreate,
    MessagePage,
    RoutingDecision,
    RoutingDecisionCreate,
    Session,
    SessionPage,
)
from contracts.paging import DEFAULT_PAGE_LIMIT


class SessionController(Controller):
    """Creating and deleting a session spans modules: those routes are the sagas' own."""

    path = "/sessions"
    tags = ["conversation"]

    @get(operation_id="listSessions", summary="The caller's sessions, newest first")
    async def list_sessions(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_LIMIT,
    ) -> SessionPage:
        return await conversation.list_sessions(
            user_id=request.user.user_id, cursor=cursor, limit=limit
        )

    @get("/{session_id:uuid}", operation_id="getSession", summary="One of the caller's sessions")
    async def get_session(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        session_id: FromPath[UUID],
    ) -> Session:
        return await conversation.get_session(session_id=session_id, user_id=request.user.user_id)

    @post(
        "/{session_id:uuid}/close",
        operation_id="closeSession",
        summary="Close a session; it takes no more messages",
        status_code=200,
    )
    async def close_session(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        session_id: FromPath[UUID],
    ) -> Session:
        return await conversation.close_session(session_id=session_id, user_id=request.user.user_id)

    @post(
        "/{session_id:uuid}/messages",
        operation_id="appendMessage",
        summary="Append a message to an open session",
    )
    async def append_message(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        session_id: FromPath[UUID],
        data: JSONBody[MessageCreate],
    ) -> Message:
        return await conversation.append_message(
            session_id=session_id, user_id=request.user.user_id, message=data
        )

    @get(
        "/{session_id:uuid}/messages",
        operation_id="listMessages",
        summary="A session's messages, oldest first",
    )
    async def list_messages(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        session_id: FromPath[UUID],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_LIMIT,
    ) -> MessagePage:
        return await conversation.list_messages(
            session_id=session_id, user_id=request.user.user_id, cursor=cursor, limit=limit
        )


class MessageController(Controller):
    path = "/messages"
    tags = ["conversation"]

    @post(
        "/{message_id:uuid}/routing-decision",
        operation_id="recordRoutingDecision",
        summary="Record how a message was routed (intent, confidence, tool)",
    )
    async def record_routing_decision(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        message_id: FromPath[UUID],
        data: JSONBody[RoutingDecisionCreate],
    ) -> RoutingDecision:
        return await conversation.record_routing_decision(
            message_id=message_id, user_id=request.user.user_id, decision=data
        )

    @get(
        "/{message_id:uuid}/routing-decision",
        operation_id="getRoutingDecision",
        summary="How a message was routed",
    )
    async def get_routing_decision(
        self,
        request: AuthRequest,
        conversation: NamedDependency[ConversationAPI],
        message_id: FromPath[UUID],
    ) -> RoutingDecision:
        return await conversation.get_routing_decision(
            message_id=message_id, user_id=request.user.user_id
        )


class ConversationStatsController(Controller):
    path = "/conversation/stats"
    tags = ["conversation"]
    guards = [requires_admin]

    @get(operation_id="conversationStats", summary="Sessions, messages, tokens, intents (admin)")
    async def stats(
        self,
        conversation: NamedDependency[ConversationAPI],
        range_: StatsRange = "24h",
    ) -> ConversationStats:
        since, until = parse_range(range_)
        return await conversation.stats(since=since, until=until)
