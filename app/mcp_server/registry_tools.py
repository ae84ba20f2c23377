"""The tools registry as MCP sees it: a registry tool as an MCP tool, an execution as
a tool result, a refusal as a tool error that says why."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import msgspec

from contracts.errors import ContractError
from contracts.tools import Execution, Tool


def as_mcp_tool(tool: Tool) -> types.Tool:
    schema = (
        tool.schema if tool.schema.get("type") == "object" else {"type": "object", **tool.schema}
    )
    # MCP (through 2025-11-25) takes only object output schemas; others stay unsaid.
    output = tool.output_schema
    return types.Tool(
        name=tool.name,
        title=tool.name,
        description=tool.description or None,
        input_schema=schema,
        output_schema=output if output is not None and output.get("type") == "object" else None,
        annotations=types.ToolAnnotations(
            read_only_hint=tool.annotations.read_only,
            destructive_hint=tool.annotations.destructive,
            open_world_hint=tool.annotations.open_world,
        ),
        _meta={"bulkhead/version": tool.version},
    )


def as_tool_result(execution: Execution) -> types.CallToolResult:
    """A run that succeeded returns its JSON result (also as structured content when it
    is an object, as MCP allows); any other end is a tool error naming the status, the
    reason and the audit row to look up."""
    if execution.status == "succeeded":
        answered = json_result(execution.result)
        answered.meta = {"bulkhead/execution_id": str(execution.id)}
        return answered
    said = f"{execution.status}: {execution.reason or 'no reason recorded'}"
    return error_result(f"{said} (execution {execution.id})")


def refusal(error: ContractError) -> types.CallToolResult:
    """A call that never ran: the contract's error code and message, for the model to act on."""
    text = f"{error.code}: {error.message}"
    if error.retry_after_s is not None:
        text += f" (retry after {error.retry_after_s:g}s)"
    return error_result(text)


def error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def json_result(value: Any) -> types.CallToolResult:
    """A tool's answer: its JSON as text, and as structured content when it is an object
    (the only kind MCP takes there through 2025-11-25)."""
    return types.CallToolResult(
        content=[types.TextContent(text=msgspec.json.encode(value).decode())],
        structured_content=value if isinstance(value, dict) else None,
    )
