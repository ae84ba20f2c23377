"""HTTP face of the tools module: thin, it parses, calls the contract, answers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from app.kernel.auth import requires_admin
from app.kernel.route_params import AuthRequest, Cursor, Limit
from app.kernel.time_range import StatsRange, parse_range
from contracts.paging import DEFAULT_PAGE_LIMIT
from contracts.tools import (
    Caller,
    ClientPolicy,
    ClientPolicyUpdate,
    Execution,
    ExecutionPage,
    ExecutionRequest,
    Tool,
    ToolCreate,
    ToolEnabledUpdate,
    ToolPage,
    ToolsAPI,
    ToolStats,
    ToolVersionCreate,
)

Version = Annotated[
    int | None, QueryParameter(ge=1, description="a version; default the latest enabled")
]
Filter = Annotated[str | None, QueryParameter(max_length=200)]


class ToolController(Controller):
    path = "/tools"
    tags = ["tools"]

    @get(operation_id="listTools", summary="The latest version of every tool")
    async def list_tools(
        self,
        tools: NamedDependency[ToolsAPI],
        include_disabled: Annotated[bool, QueryParameter(description="disabled tools too")] = False,
    ) -> ToolPage:
        return await tools.list_tools(include_disabled=include_disabled)

    @post(
        operation_id="registerTool", summary="Register a new tool (admin)", guards=[requires_admin]
    )
    async def register(self, tools: NamedDependency[ToolsAPI], data: JSONBody[ToolCreate]) -> Tool:
        return await tools.register(tool=data)

    @get(
        "/{name:str}", operation_id="getTool", summary="A tool: the latest enabled version, or one"
    )
    async def get_tool(
        self, tools: NamedDependency[ToolsAPI], name: FromPath[str], version: Version = None
    ) -> Tool:
        return await tools.get(name=name, version=version)

    @patch(
        "/{name:str}",
        operation_id="setToolEnabled",
        summary="Enable or disable every version of a tool (admin)",
        guards=[requires_admin],
    )
    async def set_enabled(
        self,
        tools: NamedDependency[ToolsAPI],
        name: FromPath[str],
        data: JSONBody[ToolEnabledUpdate],
    ) -> ToolPage:
        return await tools.set_enabled(name=name, enabled=data.enabled)

    @delete(
        "/{name:str}",
        operation_id="deleteTool",
        summary="Remove a tool; its executions stay in the audit log (admin)",
        guards=[requires_admin],
    )
    async def delete_tool(self, tools: NamedDependency[ToolsAPI], name: FromPath[str]) -> None:
        await tools.delete(name=name)

    @get("/{name:str}/versions", operation_id="listToolVersions", summary="Every version of a tool")
    async def list_versions(
        self, tools: NamedDependency[ToolsAPI], name: FromPath[str]
    ) -> ToolPage:
        return await tools.list_versions(name=name)

    @post(
        "/{name:str}/versions",
        operation_id="addToolVersion",
        summary="Add a version; fields left out are the latest version's (admin)",
        guards=[requires_admin],
    )
    async def add_version(
        self,
        tools: NamedDependency[ToolsAPI],
        name: FromPath[str],
        data: JSONBody[ToolVersionCreate],
    ) -> Tool:
        return await tools.add_version(name=name, version=data)

    @patch(
        "/{name:str}/versions/{version:int}",
        operation_id="setToolVersionEnabled",
        summary="Enable or disable one version of a tool (admin)",
        guards=[requires_admin],
    )
    async def set_version_enabled(
        self,
        tools: NamedDependency[ToolsAPI],
        name: FromPath[str],
        version: FromPath[int],
        data: JSONBody[ToolEnabledUpdate],
    ) -> ToolPage:
        return await tools.set_enabled(name=name, enabled=data.enabled, version=version)

    @post(
        "/{name:str}/executions",
        operation_id="executeTool",
        summary="Run a tool in the sandbox; the result and how the run ended",
    )
    async def execute(
        self,
        request: AuthRequest,
        tools: NamedDependency[ToolsAPI],
        name: FromPath[str],
        data: JSONBody[ExecutionRequest],
    ) -> Execution:
        caller = Caller(user_id=request.user.user_id, client_id=request.user.client_id)
        return await tools.execute(
            name=name, params=data.params, caller=caller, version=data.version
        )


class ExecutionController(Controller):
    path = "/tools/executions"
    tags = ["tools"]

    @get(
        operation_id="listToolExecutions",
        summary="The audit log of tool calls, newest first (admin)",
        guards=[requires_admin],
    )
    async def list_executions(
        self,
        tools: NamedDependency[ToolsAPI],
        tool: Filter = None,
        status: Filter = None,
        client_id: Filter = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_LIMIT,
    ) -> ExecutionPage:
        return await tools.list_executions(
            tool_name=tool, status=status, client_id=client_id, cursor=cursor, limit=limit
        )

    @get(
        "/{execution_id:uuid}",
        operation_id="getToolExecution",
        summary="One execution: the caller's own, or any for an admin",
    )
    async def get_execution(
        self,
        request: AuthRequest,
        tools: NamedDependency[ToolsAPI],
        execution_id: FromPath[UUID],
    ) -> Execution:
        return await tools.get_execution(
            execution_id=execution_id, user_id=request.user.user_id, is_admin=request.user.is_admin
        )


class PolicyController(Controller):
    path = "/tools/policies"
    tags = ["tools"]
    guards = [requires_admin]

    @get(operation_id="listToolPolicies", summary="Each client's tool allow-list (admin)")
    async def list_policies(self, tools: NamedDependency[ToolsAPI]) -> list[ClientPolicy]:
        return await tools.list_policies()

    @put(
        "/{client_id:str}",
        operation_id="setToolPolicy",
        summary="Replace a client's allow-list; '*' is the list for every other client (admin)",
    )
    async def set_policy(
        self,
        tools: NamedDependency[ToolsAPI],
        client_id: FromPath[str],
        data: JSONBody[ClientPolicyUpdate],
    ) -> ClientPolicy:
        return await tools.set_policy(client_id=client_id, policy=data)

    @delete(
        "/{client_id:str}",
        operation_id="deleteToolPolicy",
        summary="Drop an admin-set allow-list; the settings apply again (admin)",
    )
    async def delete_policy(
        self, tools: NamedDependency[ToolsAPI], client_id: FromPath[str]
    ) -> None:
        await tools.delete_policy(client_id=client_id)


class ToolStatsController(Controller):
    path = "/tools/stats"
    tags = ["tools"]
    guards = [requires_admin]

    @get(operation_id="toolStats", summary="Calls, success rate, durations, refusals (admin)")
    async def stats(
        self, tools: NamedDependency[ToolsAPI], range_: StatsRange = "24h"
    ) -> ToolStats:
        since, until = parse_range(range_)
        return await tools.stats(since=since, until=until)
