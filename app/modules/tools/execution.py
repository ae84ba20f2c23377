"""Running a tool call: resolve the tool -> policy -> parameter schema -> sandbox available
-> rate limit -> run in the sandbox -> judge the result. Whatever stops it, one audit row
records it (with its event), and nothing is run unless every check before has passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import ModuleDatabase
from app.kernel.events import Outbox
from app.kernel.telemetry import SANDBOX_RUNS, TRACER
from contracts.errors import ContractError
from contracts.tools import (
    Caller,
    Execution,
    ExecutionStatus,
    InvalidParams,
    RateLimit,
    SandboxUnavailable,
    ToolDisabled,
    ToolExecuted,
    ToolNotAllowed,
    ToolNotFound,
    ToolRateLimited,
)

from . import catalog
from .audit import ToolRequest, refusal_row, run_row, to_execution
from .json_schemas import check_params
from .models import ExecutionRow, ToolRow
from .outcome import judge
from .policy import allow_list, allows
from .rate_limiter import REFUSALS, take_call
from .sandbox import Sandbox, SandboxLimits
from .settings import ToolsSettings
from .slots import SandboxSlots

logger = logging.getLogger("bulkhead.tools")


class ToolExecutor:
    """`ToolsAPI.execute`, with the audit log and the limits it keeps."""

    def __init__(
        self,
        database: ModuleDatabase,
        outbox: Outbox,
        settings: ToolsSettings,
        sandbox: Sandbox,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = database
        self._outbox = outbox
        self._settings = settings
        self._sandbox = sandbox
        self._clock = clock
        self._slots = SandboxSlots(
            total=settings.max_concurrent, per_user=settings.max_concurrent_per_user
        )
        calls, window_s = settings.rate_limit
        self._default_rate_limit = RateLimit(calls=calls, window_s=window_s)

    async def execute(
        self, *, name: str, params: dict[str, Any], caller: Caller, version: int | None = None
    ) -> Execution:
        encoded = msgspec.json.encode(params)
        call = ToolRequest(tool_name=name, caller=caller, params=params, version=version)
        if len(encoded) > self._settings.max_params_bytes:
            too_big = InvalidParams(
                f"params are {len(encoded)} bytes; the limit is "
                f"{self._settings.max_params_bytes} (BULKHEAD_TOOLS_MAX_PARAMS_BYTES)",
                field="params",
            )
            raise await self._refuse(call, "invalid_params", too_big, counted=True)
        async with self._db.read() as tx:
            try:
                tool = catalog.runnable(await catalog.pick(tx, name, version))
            except (ToolNotFound, ToolDisabled) as exc:
                raise await self._refuse(call, "refused", exc, counted=True) from None
            patterns = await allow_list(tx, self._settings.allowlist, caller.client_id)
        call = replace(call, tool=tool)
        if not allows(patterns, name):
            not_allowed = ToolNotAllowed(
                f"client {caller.client_id!r} may not run {name!r}",
                field="name",
                details={"client_id": caller.client_id, "tool": name, "rule": "allow_list"},
            )
            raise await self._refuse(call, "refused", not_allowed, counted=True)
        try:
            check_params(tool.schema, params)
        except InvalidParams as exc:
            raise await self._refuse(call, "invalid_params", exc, counted=True) from None
        status = await self._sandbox.status()
        if not status.available:
            raise await self._refuse(call, "unavailable", SandboxUnavailable(str(status.reason)))
        limit = self._rate_limit(tool)
        async with self._db.transaction() as tx:
            wait = await self._take(tx, name, caller, limit)
        if wait is not None:
            raise await self._refuse(
                call,
                "rate_limited",
                ToolRateLimited(
                    f"{name!r} allows {limit.calls} calls per {limit.window_s}s per user",
                    details={"limit": limit.calls, "window_s": limit.window_s},
                    retry_after_s=wait,
                ),
            )
        return await self._run(call, tool, encoded)

    async def _run(self, call: ToolRequest, tool: ToolRow, stdin: bytes) -> Execution:
        limits = SandboxLimits(
            timeout_s=tool.timeout_s,
            memory_mb=tool.memory_mb,
            max_output_bytes=self._settings.max_output_bytes,
        )
        async with self._slots.hold(call.caller.user_id):
            try:
                with TRACER.start_as_current_span(
                    "sandbox.run", attributes={"bulkhead.tool": tool.name}
                ) as span:
                    run = await self._sandbox.run(tool.source, stdin, limits)
                    span.set_attribute("bulkhead.exit_code", run.exit_code)
            except OSError as exc:
                raise await self._refuse(
                    call, "unavailable", SandboxUnavailable(f"cannot start the sandbox: {exc}")
                ) from exc
        # Whatever the tool printed, the run ends in exactly one audit row.
        try:
            status, reason, result = judge(tool, run, limits.max_output_bytes)
        except Exception as exc:  # a judge's bug must not lose the record of a run
            logger.exception("judging a run of %s failed", tool.name)
            status, reason, result = (
                "invalid_output",
                f"the output could not be read: {type(exc).__name__}",
                None,
            )
        row = run_row(call, run, status, reason, result)
        await self._audit(row)
        return to_execution(row)

    async def _take(
        self, tx: AsyncSession, key: str, caller: Caller, limit: RateLimit
    ) -> float | None:
        return await take_call(
            tx,
            dialect=self._db.dialect,
            tool_name=key,
            client_id=caller.client_id,
            user_id=caller.user_id,
            limit=limit,
            now=self._clock(),
        )

    async def _refuse(
        self,
        call: ToolRequest,
        status: ExecutionStatus,
        error: ContractError,
        *,
        counted: bool = False,
    ) -> ContractError:
        """Record a call that did not run (its params in a bounded form), and hand back its
        error to raise. A `counted` refusal (the caller's fault) takes one from the
        caller's budget of refusals; past it, the answer is 429 instead."""
        async with self._db.transaction() as tx:
            if counted:
                limit = self._default_rate_limit
                wait = await self._take(tx, REFUSALS, call.caller, limit)
                if wait is not None:
                    status, error = (
                        "rate_limited",
                        ToolRateLimited(
                            f"too many refused calls ({limit.calls} per {limit.window_s}s per user); "
                            f"the last one: {error.message}",
                            details={"limit": limit.calls, "window_s": limit.window_s},
                            retry_after_s=wait,
                        ),
                    )
            row = refusal_row(call, status, error.message)
            await self._record(tx, row)
        error.details["execution_id"] = str(row.id)
        return error

    async def _audit(self, row: ExecutionRow) -> None:
        async with self._db.transaction() as tx:
            await self._record(tx, row)

    async def _record(self, tx: AsyncSession, row: ExecutionRow) -> None:
        """The audit row and its event, together."""
        tx.add(row)
        SANDBOX_RUNS.labels(row.status).inc()
        await self._outbox.add(
            tx,
            ToolExecuted(
                user_id=row.user_id,
                execution_id=row.id,
                tool_name=row.tool_name,
                tool_version=row.tool_version,
                client_id=row.client_id,
                status=row.status,
                duration_ms=row.duration_ms,
                executed_at=row.created_at,
            ),
            occurred_at=row.created_at,
        )

    def _rate_limit(self, tool: ToolRow) -> RateLimit:
        if tool.rate_limit_calls is not None and tool.rate_limit_window_s is not None:
            return RateLimit(calls=tool.rate_limit_calls, window_s=tool.rate_limit_window_s)
        return self._default_rate_limit
