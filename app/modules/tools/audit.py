"""The audit log: one `executions` row per call, read back as `Execution`."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from app.kernel.columns import utcnow
from contracts.tools import (
    Caller,
    CapturedStream,
    Execution,
    ExecutionStatus,
    ResourceUse,
)

from .models import ExecutionRow, ToolRow
from .sandbox import Captured, SandboxRun

STORED_OUTPUT_BYTES = 65_536  # of each stream, in the log; sizes and hashes cover it all
STORED_REFUSED_PARAMS_BYTES = 2_048  # params of a refused call kept whole up to this size


@dataclass(frozen=True)
class ToolRequest:
    """A tool call as asked, before it is judged: the tool (as resolved, when it was), by whom, with what."""

    tool_name: str
    caller: Caller
    params: dict[str, Any]
    tool: ToolRow | None = None
    version: int | None = None  # as asked, when the tool could not be resolved


def refusal_row(call: ToolRequest, status: ExecutionStatus, reason: str) -> ExecutionRow:
    """A call that did not run keeps small params whole, and only the size and digest of
    large ones: refusals are cheap to send, so they must be cheap to store."""
    row = _row(call, status=status, reason=reason)
    encoded = msgspec.json.encode(call.params)
    if len(encoded) > STORED_REFUSED_PARAMS_BYTES:
        row.params = {
            "omitted": {"bytes": len(encoded), "sha256": hashlib.sha256(encoded).hexdigest()}
        }
    return row


def _text(value: str) -> str:
    # PostgreSQL's text refuses NUL, and a tool may print anything.
    return value.replace("\x00", "\ufffd")


def run_row(
    call: ToolRequest, run: SandboxRun, status: ExecutionStatus, reason: str | None, result: Any
) -> ExecutionRow:
    row = _row(call, status=status, reason=reason)
    row.result = result
    row.exit_code = run.exit_code
    row.duration_ms = round(run.duration_ms, 3)
    row.stdout, row.stdout_bytes, row.stdout_sha256, row.stdout_truncated = _stored(run.stdout)
    row.stderr, row.stderr_bytes, row.stderr_sha256, row.stderr_truncated = _stored(run.stderr)
    row.cpu_ms, row.max_rss_kb = run.cpu_ms, run.max_rss_kb
    return row


def _row(call: ToolRequest, *, status: ExecutionStatus, reason: str | None) -> ExecutionRow:
    return ExecutionRow(
        id=uuid.uuid4(),
        tool_id=call.tool.id if call.tool else None,
        tool_name=_text(call.tool_name[:200]),
        tool_version=call.tool.version if call.tool else call.version,
        user_id=call.caller.user_id,
        client_id=call.caller.client_id,
        status=status,
        reason=_text(reason) if reason is not None else None,
        params=call.params,
        result=None,
        created_at=utcnow(),
    )


def _stored(captured: Captured) -> tuple[str, int, str, bool]:
    head = captured.head[:STORED_OUTPUT_BYTES]
    text = _text(head.decode("utf-8", errors="replace"))
    return text, captured.size, captured.sha256, captured.size > len(head)


def to_execution(row: ExecutionRow) -> Execution:
    resources = None
    if row.cpu_ms is not None and row.max_rss_kb is not None:
        resources = ResourceUse(cpu_ms=row.cpu_ms, max_rss_kb=row.max_rss_kb)
    return Execution(
        id=row.id,
        tool_id=row.tool_id,
        tool_name=row.tool_name,
        tool_version=row.tool_version,
        user_id=row.user_id,
        client_id=row.client_id,
        status=row.status,  # type: ignore[arg-type]  # written from an ExecutionStatus
        reason=row.reason,
        params=row.params,
        result=row.result,
        exit_code=row.exit_code,
        duration_ms=row.duration_ms,
        stdout=_stream(row.stdout, row.stdout_bytes, row.stdout_sha256, row.stdout_truncated),
        stderr=_stream(row.stderr, row.stderr_bytes, row.stderr_sha256, row.stderr_truncated),
        resources=resources,
        created_at=row.created_at,
    )


def _stream(
    text: str | None, size: int | None, sha256: str | None, truncated: bool | None
) -> CapturedStream | None:
    if text is None or size is None or sha256 is None:
        return None
    return CapturedStream(text=text, size=size, sha256=sha256, truncated=bool(truncated))
