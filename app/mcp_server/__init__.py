"""Agents connect over the Model Context Protocol (MCP) at `/mcp`.

Beside composition: it calls modules only through `contracts`, so it works the same
when a module runs in another process.
"""

from __future__ import annotations

from app.kernel.auth import resolve_jwt_secret
from app.kernel.settings import Settings
from contracts.record import Contracts

from .bearer import BulkheadTokens
from .endpoint import PATH, McpEndpoint, mcp_endpoint
from .server import build_server

__all__ = ["PATH", "McpEndpoint", "serve_mcp"]


def serve_mcp(
    settings: Settings, contracts: Contracts, composition_timeout_s: float
) -> McpEndpoint:
    revocations = contracts.sagas if contracts.runs("sagas") else None
    tokens = BulkheadTokens(resolve_jwt_secret(settings), revocations)
    return mcp_endpoint(build_server(contracts, composition_timeout_s), tokens)
