"""`/mcp`: the SDK's streamable HTTP transport behind its bearer middleware, mounted in
the Litestar app.

Stateless, with JSON answers: every request carries its token and stands alone, so any
worker behind a load balancer can answer it (no session pinned to a process) and a
restart loses nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send
from mcp.server import Server
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.authentication import AuthenticationMiddleware

PATH = "/mcp"


@dataclass(frozen=True)
class McpEndpoint:
    route: ASGIRouteHandler
    manager: StreamableHTTPSessionManager

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        async with self.manager.run():
            yield


def mcp_endpoint(server: Server[Any], tokens: TokenVerifier) -> McpEndpoint:
    manager = StreamableHTTPSessionManager(
        app=server,
        stateless=True,
        json_response=True,
        # DNS-rebinding protection guards servers that trust the browser's network
        # position; every request here must carry a bearer token a page cannot read.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    guarded = RequireAuthMiddleware(StreamableHTTPASGIApp(manager), [], None)
    app = AuthenticationMiddleware(
        AuthContextMiddleware(guarded), backend=BearerAuthBackend(tokens)
    )

    @asgi(PATH, is_mount=True, copy_scope=True)
    async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)  # type: ignore[arg-type]  # Starlette's own ASGI types

    return McpEndpoint(route=mcp, manager=manager)
