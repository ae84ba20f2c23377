"""A session's context (`GET /v1/sessions/{id}/context`) as an MCP resource."""

from __future__ import annotations

import re
from uuid import UUID

import mcp_types as types
import msgspec
from mcp.shared.exceptions import MCPError

from app.composition.session_context import session_context
from contracts.errors import NotFound
from contracts.record import Contracts

URI_TEMPLATE = "bulkhead://sessions/{session_id}/context"
_URI = re.compile(r"bulkhead://sessions/(?P<id>[0-9a-fA-F-]{32,36})/context")
LISTED_SESSIONS = 50  # the newest; any other of the caller's reads by its URI
# Same defaults as the REST route's query parameters.
MESSAGES = 20
MEMORIES = 5
# JSON-RPC code MCP servers answer an unknown resource with (spec: resources, errors).
RESOURCE_NOT_FOUND = -32002
JSON = "application/json"

TEMPLATE = types.ResourceTemplate(
    name="session-context",
    title="Session context",
    uri_template=URI_TEMPLATE,
    description=(
        "One of your sessions with its last messages, its working memory and your "
        "memories most relevant to it: what an agent reads before it answers."
    ),
    mime_type=JSON,
)


async def listed(contracts: Contracts, user_id: str) -> list[types.Resource]:
    page = await contracts.conversation.list_sessions(user_id=user_id, limit=LISTED_SESSIONS)
    return [
        types.Resource(
            name=f"session-{s.id}",
            title=s.title or f"Session of {s.created_at:%Y-%m-%d %H:%M}",
            uri=URI_TEMPLATE.format(session_id=s.id),
            description=f"{s.status} session, {s.message_count} messages",
            mime_type=JSON,
        )
        for s in page.items
    ]


async def read(
    contracts: Contracts, user_id: str, uri: str, timeout_s: float
) -> types.ReadResourceResult:
    match = _URI.fullmatch(uri)
    if match is None:
        raise MCPError(RESOURCE_NOT_FOUND, f"no resource {uri!r}; expected {URI_TEMPLATE}")
    try:
        session_id = UUID(match["id"])
        context = await session_context(
            contracts,
            session_id,
            user_id,
            messages=MESSAGES,
            memories=MEMORIES,
            timeout_s=timeout_s,
        )
    except (ValueError, NotFound) as exc:  # another user's session is not found either
        raise MCPError(RESOURCE_NOT_FOUND, f"no session behind {uri!r}") from exc
    text = msgspec.json.encode(context).decode()
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri, mime_type=JSON, text=text)]
    )
