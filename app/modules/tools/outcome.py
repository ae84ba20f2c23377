"""How a sandbox run ended, in the audit log's terms: status, reason, result."""

from __future__ import annotations

import signal
from typing import Any

import msgspec

from app.kernel.json_depth import MAX_JSON_DEPTH, json_depth
from contracts.tools import RunStatus

from .json_schemas import output_problem
from .models import ToolRow
from .sandbox import SandboxRun

_CPU_LIMIT_CODES = {128 + signal.SIGXCPU, -signal.SIGXCPU}


def judge(
    tool: ToolRow, run: SandboxRun, max_output_bytes: int
) -> tuple[RunStatus, str | None, Any]:
    if run.timed_out:
        return "timed_out", f"stopped at the wall-clock limit of {tool.timeout_s:g}s", None
    if run.exit_code in _CPU_LIMIT_CODES:
        return "timed_out", "stopped at its CPU-time limit", None
    if run.output_limited:
        which = "stdout" if run.stdout.size > max_output_bytes else "stderr"
        return (
            "output_limit",
            f"{which} passed {max_output_bytes} bytes; the tool was stopped",
            None,
        )
    if run.memory_error:
        return "memory_limit", f"reached its memory limit of {tool.memory_mb} MB", None
    if run.exit_code != 0:
        return "failed", _failure(run), None
    if (depth := json_depth(run.stdout.head)) > MAX_JSON_DEPTH:
        return "invalid_output", f"stdout nests {depth} levels deep; at most {MAX_JSON_DEPTH}", None
    try:
        result = msgspec.json.decode(run.stdout.head)
    except msgspec.DecodeError as exc:
        return "invalid_output", f"stdout is not one JSON value: {exc}", None
    if tool.output_schema is not None and (problem := output_problem(tool.output_schema, result)):
        return "invalid_output", problem, None
    return "succeeded", None, result


def _failure(run: SandboxRun) -> str:
    code = run.exit_code
    if code > 128 or code < 0:
        number = code - 128 if code > 128 else -code
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by {name}"
    lines = run.stderr.head.decode("utf-8", errors="replace").strip().splitlines()
    last = lines[-1][:500] if lines else "no message on stderr"
    return f"exit code {code}: {last}"
