"""The MCP server: what `tools/*` and `resources/*` do, each through the contracts.

Registry tools run through `ToolsAPI.execute` exactly as `POST /v1/tools/{name}/executions`
does: the caller's client policy, the parameter schema, rate limits, the sandbox and the
audit row. Calls that never ran come back as tool errors that say why, so the model can
act on them; only an unknown tool is a protocol error, as MCP asks.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
import msgspec
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from app.kernel.auth import Principal
from contracts.errors import ContractError
from contracts.record import Contracts
from contracts.tools import Caller, ToolNotFound

from . import session_resources
from .bearer import current_principal
from .own_tools import OWN_TOOLS, OwnTool, object_schema
from .registry_tools import as_mcp_tool, as_tool_result, error_result, json_result, refusal

logger = logging.getLogger("bulkhead.mcp")

INSTRUCTIONS = (
    "Bulkhead: the tools in its registry run in a sandbox under your client's policy; "
    "`knowledge-search` searches the knowledge base; `memory-recall` and `memory-remember` "
    "are your own long-term memory. Resources are your sessions' context."
)
Context = ServerRequestContext[Any]


def build_server(contracts: Contracts, composition_timeout_s: float) -> Server[Any]:
    own_listed = [_own_listing(t) for t in OWN_TOOLS.values() if contracts.runs(t.module)]

    async def list_tools(
        _: Context, __: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        listed = list(own_listed)
        if contracts.runs("tools"):
            try:
                page = await contracts.tools.list_tools()
            except ContractError as exc:  # the registry is down: the other tools still work
                logger.warning("MCP tools/list without the registry: %s", exc.message)
            else:
                listed += [as_mcp_tool(t) for t in page.items]
        return types.ListToolsResult(tools=listed)

    async def call_tool(_: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = current_principal()
        arguments = params.arguments or {}
        try:
            own = OWN_TOOLS.get(params.name)
            if own is not None:
                return await _call_own(own, arguments, contracts, caller)
            execution = await contracts.tools.execute(
                name=params.name,
                params=arguments,
                caller=Caller(user_id=caller.user_id, client_id=caller.client_id),
            )
        except ToolNotFound as exc:
            raise MCPError(types.INVALID_PARAMS, exc.message) from exc
        except ContractError as exc:
            return refusal(exc)
        return as_tool_result(execution)

    async def list_resources(
        _: Context, __: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        user_id = current_principal().user_id
        return types.ListResourcesResult(
            resources=await session_resources.listed(contracts, user_id)
        )

    async def list_templates(
        _: Context, __: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[session_resources.TEMPLATE])

    async def read_resource(
        _: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        user_id = current_principal().user_id
        return await session_resources.read(contracts, user_id, params.uri, composition_timeout_s)

    return Server(
        "bulkhead",
        version="0.1.0",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


def _own_listing(tool: OwnTool) -> types.Tool:
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=object_schema(tool.arguments),
        output_schema=object_schema(tool.result),
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=False,
            open_world_hint=False,
        ),
    )


async def _call_own(
    tool: OwnTool, arguments: dict[str, Any], contracts: Contracts, caller: Principal
) -> types.CallToolResult:
    try:
        # Through JSON, so arguments are read exactly as the REST API reads its bodies.
        checked = msgspec.json.decode(msgspec.json.encode(arguments), type=tool.arguments)
    except msgspec.ValidationError as exc:
        return error_result(f"InvalidParams: {exc}")
    return json_result(msgspec.to_builtins(await tool.run(contracts, caller, checked)))
