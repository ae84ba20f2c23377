"""ToolsService: implements `contracts.tools.ToolsAPI`.

A call goes: resolve the tool -> policy -> parameter schema -> sandbox available ->
rate limit -> run in the sandbox -> judge the result. Whatever stops it, one audit row
records it, and nothing is run unless every check before has passed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.auth import USER_ID_PATTERN
from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.events import EventHandlers, Outbox, ReplaysOutbox, user_of
from app.kernel.health import ComponentHealth
from app.kernel.keyset import newest_first
from app.kernel.settings import Settings
from app.kernel.validation import validated
from contracts.errors import ContractError, InvalidInput
from contracts.events import EventEnvelope
from contracts.paging import DEFAULT_PAGE_LIMIT
from contracts.tools import (
    Caller,
    ClientPolicy,
    ClientPolicyUpdate,
    Execution,
    ExecutionNotFound,
    ExecutionPage,
    ExecutionStatus,
    InvalidParams,
    RateLimit,
    SandboxUnavailable,
    Tool,
    ToolCreate,
    ToolDisabled,
    ToolExecuted,
    ToolExists,
    ToolNotAllowed,
    ToolNotFound,
    ToolPage,
    ToolRateLimited,
    ToolStats,
    ToolVersionCreate,
)
from contracts.users import UserDeletionRequested

from . import catalog
from .audit import ToolRequest, refusal_row, run_row, to_execution
from .builtin_tools import BUILTIN_TOOLS
from .json_schemas import check_params
from .models import EVENT_TABLES, ClientPolicyRow, ExecutionRow, ToolRow
from .outcome import judge
from .policy import EVERY_CLIENT, admin_policies, allow_list, allows
from .rate_limiter import REFUSALS, take_call
from .sandbox import Sandbox, SandboxLimits
from .settings import ToolsSettings
from .slots import SandboxSlots
from .usage_stats import tool_stats

logger = logging.getLogger("bulkhead.tools")


class ToolsService(ReplaysOutbox):
    def __init__(
        self,
        database: ModuleDatabase,
        settings: Settings,
        *,
        sandbox: Sandbox | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database.claim("tools")
        self._outbox = Outbox("tools", EVENT_TABLES)
        self._settings = settings.of(ToolsSettings)
        own = self._settings
        self._sandbox = sandbox or Sandbox(
            bwrap=own.sandbox_bwrap,
            python=own.sandbox_python,
            uid=own.sandbox_uid,
            cgroup=own.sandbox_cgroup,
        )
        self._clock = clock
        self._slots = SandboxSlots(total=own.max_concurrent, per_user=own.max_concurrent_per_user)
        calls, window_s = own.rate_limit
        self._default_rate_limit = RateLimit(calls=calls, window_s=window_s)

    # -- the registry ------------------------------------------------------------------

    async def exists(self, *, name: str, version: int | None = None) -> bool:
        async with self._db.read() as tx:
            rows = await catalog.versions(tx, name)
        return any(version in (None, r.version) for r in rows)

    async def get(self, *, name: str, version: int | None = None) -> Tool:
        async with self._db.read() as tx:
            return catalog.to_tool(await catalog.pick(tx, name, version))

    async def list_tools(self, *, include_disabled: bool = False) -> ToolPage:
        async with self._db.read() as tx:
            rows = await catalog.latest_of_each(tx, include_disabled=include_disabled)
        return ToolPage(items=[catalog.to_tool(r) for r in rows])

    async def list_versions(self, *, name: str) -> ToolPage:
        async with self._db.read() as tx:
            rows = await catalog.versions(tx, name)
        if not rows:
            raise ToolNotFound(f"no tool {name!r}", field="name")
        return ToolPage(items=[catalog.to_tool(r) for r in rows])

    async def register(self, *, tool: ToolCreate) -> Tool:
        spec = validated(tool)
        if spec.name in catalog.RESERVED_NAMES:
            raise InvalidInput(f"{spec.name!r} is a reserved name", field="name")
        catalog.check_definition(spec)
        async with self._db.transaction() as tx:
            if await catalog.versions(tx, spec.name):
                raise ToolExists(
                    f"tool {spec.name!r} exists; POST /v1/tools/{spec.name}/versions adds a version",
                    field="name",
                )
            row = catalog.new_row(spec, await catalog.next_version(tx, spec.name), builtin=False)
            tx.add(row)
        return catalog.to_tool(row)

    async def add_version(self, *, name: str, version: ToolVersionCreate) -> Tool:
        version = validated(version)
        async with self._db.transaction() as tx:
            rows = await catalog.versions(tx, name)
            if not rows:
                raise ToolNotFound(f"no tool {name!r}", field="name")
            spec = validated(catalog.updated_spec(rows[-1], version))
            catalog.check_definition(spec)
            row = catalog.new_row(spec, await catalog.next_version(tx, name), builtin=False)
            tx.add(row)
        return catalog.to_tool(row)

    async def set_enabled(
        self, *, name: str, enabled: bool, version: int | None = None
    ) -> ToolPage:
        async with self._db.transaction() as tx:
            rows = await catalog.versions(tx, name)
            chosen = [r for r in rows if version in (None, r.version)]
            if not chosen:
                which = f"version {version} of tool" if version is not None else "tool"
                raise ToolNotFound(f"no {which} {name!r}", field="name")
            for row in chosen:
                row.enabled = enabled
            return ToolPage(items=[catalog.to_tool(r) for r in rows])

    async def delete(self, *, name: str) -> None:
        async with self._db.transaction() as tx:
            result = await tx.execute(
                update(ToolRow)
                .where(ToolRow.name == name, ToolRow.deleted_at.is_(None))
                .values(deleted_at=utcnow(), enabled=False)
            )
        if result.rowcount == 0:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
            raise ToolNotFound(f"no tool {name!r}", field="name")

    async def sync_builtin_tools(self) -> None:
        """Register the shipped tools, or a new version where a release changed one."""
        for spec in BUILTIN_TOOLS:
            async with self._db.transaction() as tx:
                rows = await catalog.versions(tx, spec.name)
                if rows and not rows[-1].builtin:
                    logger.warning(
                        "tool %s is an admin's own; the built-in is not installed", spec.name
                    )
                    continue
                if rows and catalog.as_spec(rows[-1]) == replace_enabled(spec, rows[-1].enabled):
                    continue
                version = await catalog.next_version(tx, spec.name)
                tx.add(catalog.new_row(spec, version, builtin=True))
            logger.info("installed built-in tool %s version %d", spec.name, version)

    # -- execution ---------------------------------------------------------------------

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
                run = await self._sandbox.run(tool.source, stdin, limits)
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

    # -- events ------------------------------------------------------------------------

    def event_handlers(self) -> EventHandlers:
        return EventHandlers().on(UserDeletionRequested, self._forget_user)

    async def _forget_user(
        self, tx: AsyncSession, event: UserDeletionRequested, _: EventEnvelope
    ) -> None:
        """The user's executions go from the audit log (with their params and output)."""
        user_id = user_of(event)
        await tx.execute(delete(ExecutionRow).where(ExecutionRow.user_id == user_id))
        await self._outbox.forget_user(tx, user_id)

    def _rate_limit(self, tool: ToolRow) -> RateLimit:
        if tool.rate_limit_calls is not None and tool.rate_limit_window_s is not None:
            return RateLimit(calls=tool.rate_limit_calls, window_s=tool.rate_limit_window_s)
        return self._default_rate_limit

    async def component_health(self) -> dict[str, ComponentHealth]:
        status = await self._sandbox.status()
        return {
            "sandbox": ComponentHealth(
                ok=status.available,
                error=status.reason,
                detail=f"{status.version}; memory: {self._sandbox.memory_accounting}"
                if status.version
                else None,
            )
        }

    # -- the audit log -----------------------------------------------------------------

    async def get_execution(
        self, *, execution_id: uuid.UUID, user_id: str, is_admin: bool = False
    ) -> Execution:
        async with self._db.read() as tx:
            row = await tx.get(ExecutionRow, execution_id)
        if row is None or not (is_admin or row.user_id == user_id):
            raise ExecutionNotFound(f"no execution {execution_id}", field="execution_id")
        return to_execution(row)

    async def list_executions(
        self,
        *,
        tool_name: str | None = None,
        status: str | None = None,
        client_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> ExecutionPage:
        query = select(ExecutionRow)
        for column, value in (
            (ExecutionRow.tool_name, tool_name),
            (ExecutionRow.status, status),
            (ExecutionRow.client_id, client_id),
        ):
            if value is not None:
                query = query.where(column == value)
        async with self._db.read() as tx:
            rows, next_cursor = await newest_first(
                tx,
                query,
                created_at=ExecutionRow.created_at,
                id_=ExecutionRow.id,
                listing="executions",
                cursor=cursor,
                limit=limit,
            )
        return ExecutionPage(items=[to_execution(r) for r in rows], next_cursor=next_cursor)

    async def stats(self, *, since: datetime, until: datetime) -> ToolStats:
        async with self._db.read() as tx:
            return await tool_stats(tx, since, until)

    # -- policies ----------------------------------------------------------------------

    async def list_policies(self) -> list[ClientPolicy]:
        async with self._db.read() as tx:
            stored = {row.client_id: row for row in await admin_policies(tx)}
        policies = {
            client: ClientPolicy(client_id=client, allowed_tools=list(tools), source="settings")
            for client, tools in self._settings.allowlist.items()
        }
        for client, row in stored.items():
            policies[client] = ClientPolicy(
                client_id=client, allowed_tools=list(row.allowed_tools), source="admin"
            )
        return [policies[c] for c in sorted(policies, key=lambda c: (c != EVERY_CLIENT, c))]

    async def set_policy(self, *, client_id: str, policy: ClientPolicyUpdate) -> ClientPolicy:
        policy = validated(policy)
        if client_id != EVERY_CLIENT and not USER_ID_PATTERN.fullmatch(client_id):
            raise InvalidInput(f"{client_id!r} is not a client id (or '*')", field="client_id")
        async with self._db.transaction() as tx:
            row = await tx.get(ClientPolicyRow, client_id)
            if row is None:
                row = ClientPolicyRow(client_id=client_id)
                tx.add(row)
            row.allowed_tools, row.updated_at = list(policy.allowed_tools), utcnow()
        return ClientPolicy(client_id=client_id, allowed_tools=row.allowed_tools, source="admin")

    async def delete_policy(self, *, client_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(delete(ClientPolicyRow).where(ClientPolicyRow.client_id == client_id))


async def seed_builtin_tools(database: ModuleDatabase, settings: Settings) -> None:
    await ToolsService(database, settings).sync_builtin_tools()


def replace_enabled(spec: ToolCreate, enabled: bool) -> ToolCreate:
    # An admin may disable a built-in; that is not a change the upgrade should undo.
    return msgspec.structs.replace(spec, enabled=enabled)
