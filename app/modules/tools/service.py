"""ToolsService: implements `contracts.tools.ToolsAPI`: the registry of tools, the audit
log, client policies; running a call is `execution.py`'s."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
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
from contracts.errors import InvalidInput
from contracts.events import EventEnvelope
from contracts.paging import DEFAULT_PAGE_LIMIT
from contracts.tools import (
    Caller,
    ClientPolicy,
    ClientPolicyUpdate,
    Execution,
    ExecutionNotFound,
    ExecutionPage,
    Tool,
    ToolCreate,
    ToolExists,
    ToolNotFound,
    ToolPage,
    ToolStats,
    ToolVersionCreate,
)
from contracts.users import UserDeletionRequested

from . import catalog
from .audit import to_execution
from .builtin_tools import BUILTIN_TOOLS
from .execution import ToolExecutor
from .models import EVENT_TABLES, ClientPolicyRow, ExecutionRow, ToolRow
from .policy import EVERY_CLIENT, admin_policies
from .sandbox import Sandbox
from .settings import ToolsSettings
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
        self._executor = ToolExecutor(self._db, self._outbox, own, self._sandbox, clock)

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

    # -- execution (execution.py) -------------------------------------------------------

    async def execute(
        self, *, name: str, params: dict[str, Any], caller: Caller, version: int | None = None
    ) -> Execution:
        return await self._executor.execute(
            name=name, params=params, caller=caller, version=version
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
