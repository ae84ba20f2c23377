"""The registry of tools: every version is a row; deleting hides a tool, never its history."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from contracts.tools import (
    RateLimit,
    Tool,
    ToolAnnotations,
    ToolCreate,
    ToolDisabled,
    ToolNotFound,
    ToolVersionCreate,
)

from .json_schemas import check_schema
from .models import ToolRow

RESERVED_NAMES = frozenset({"executions", "policies", "stats"})  # sibling routes


def check_definition(spec: ToolCreate) -> None:
    check_schema(spec.schema, field="schema")
    if spec.output_schema is not None:
        check_schema(spec.output_schema, field="output_schema")


async def versions(tx: AsyncSession, name: str) -> list[ToolRow]:
    """Every live version of the tool, oldest first."""
    query = (
        select(ToolRow)
        .where(ToolRow.name == name, ToolRow.deleted_at.is_(None))
        .order_by(ToolRow.version)
    )
    return list((await tx.scalars(query)).all())


async def pick(tx: AsyncSession, name: str, version: int | None) -> ToolRow:
    """That version, else the latest enabled, else the latest. Raises `ToolNotFound`."""
    rows = await versions(tx, name)
    if version is not None:
        rows = [r for r in rows if r.version == version]
    if not rows:
        which = f"version {version} of tool" if version is not None else "tool"
        raise ToolNotFound(f"no {which} {name!r}", field="name")
    enabled = [r for r in rows if r.enabled]
    return (enabled or rows)[-1]


def runnable(row: ToolRow) -> ToolRow:
    if not row.enabled:
        raise ToolDisabled(f"tool {row.name!r} version {row.version} is disabled", field="name")
    return row


async def latest_of_each(tx: AsyncSession, *, include_disabled: bool) -> list[ToolRow]:
    rows = list(
        (
            await tx.scalars(
                select(ToolRow)
                .where(ToolRow.deleted_at.is_(None))
                .order_by(ToolRow.name, ToolRow.version)
            )
        ).all()
    )
    latest: dict[str, ToolRow] = {}
    for row in rows:
        if include_disabled or row.enabled:
            latest[row.name] = row
    return list(latest.values())


async def next_version(tx: AsyncSession, name: str) -> int:
    # Deleted versions count too: a number never names two different tools.
    highest = await tx.scalar(select(func.max(ToolRow.version)).where(ToolRow.name == name))
    return (highest or 0) + 1


def new_row(spec: ToolCreate, version: int, *, builtin: bool) -> ToolRow:
    return ToolRow(
        id=uuid.uuid4(),
        name=spec.name,
        version=version,
        description=spec.description,
        schema=spec.schema,
        output_schema=spec.output_schema,
        runtime=spec.runtime,
        source=spec.source,
        timeout_s=spec.timeout_s,
        memory_mb=spec.memory_mb,
        read_only=spec.annotations.read_only,
        destructive=spec.annotations.destructive,
        open_world=spec.annotations.open_world,
        rate_limit_calls=spec.rate_limit.calls if spec.rate_limit else None,
        rate_limit_window_s=spec.rate_limit.window_s if spec.rate_limit else None,
        enabled=spec.enabled,
        builtin=builtin,
        created_at=utcnow(),
    )


def as_spec(row: ToolRow) -> ToolCreate:
    tool = to_tool(row)
    fields = {f: getattr(tool, f) for f in ToolCreate.__struct_fields__}
    return ToolCreate(**fields)


def updated_spec(row: ToolRow, change: ToolVersionCreate) -> ToolCreate:
    """The latest version's definition with the given fields replaced."""
    given: dict[str, Any] = {
        f: getattr(change, f)
        for f in ToolVersionCreate.__struct_fields__
        if getattr(change, f) is not msgspec.UNSET
    }
    return msgspec.structs.replace(as_spec(row), **given)


def to_tool(row: ToolRow) -> Tool:
    rate_limit = None
    if row.rate_limit_calls is not None and row.rate_limit_window_s is not None:
        rate_limit = RateLimit(calls=row.rate_limit_calls, window_s=row.rate_limit_window_s)
    return Tool(
        id=row.id,
        name=row.name,
        version=row.version,
        description=row.description,
        schema=row.schema,
        output_schema=row.output_schema,
        runtime="python",
        source=row.source,
        timeout_s=row.timeout_s,
        memory_mb=row.memory_mb,
        annotations=ToolAnnotations(
            read_only=row.read_only, destructive=row.destructive, open_world=row.open_world
        ),
        rate_limit=rate_limit,
        enabled=row.enabled,
        builtin=row.builtin,
        created_at=row.created_at,
    )
