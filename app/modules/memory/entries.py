"""Long-term memory rows: versions, duplicates, and how they read as `MemoryEntry`."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.memory import MemoryEntry, MemoryNotFound

from .models import MemoryEntryRow

_SPACE = re.compile(r"\s+")


def content_hash(content: str) -> str:
    """Equal for texts that differ only in case and spacing: those are exact duplicates."""
    normal = _SPACE.sub(" ", content).strip().casefold()
    return hashlib.sha256(normal.encode()).hexdigest()


def current(now: datetime) -> ColumnElement[bool]:
    """Not replaced by a newer version, and not past its `valid_to`."""
    return and_(
        MemoryEntryRow.superseded_by.is_(None),
        or_(MemoryEntryRow.valid_to.is_(None), MemoryEntryRow.valid_to > now),
    )


async def owned(tx: AsyncSession, memory_id: uuid.UUID, user_id: str) -> MemoryEntryRow:
    """Any version of the caller's memory; another user's is as missing as none."""
    row = await tx.get(MemoryEntryRow, memory_id)
    if row is None or row.user_id != user_id:
        raise MemoryNotFound(f"no memory {memory_id}", field="memory_id")
    return row


async def versions(tx: AsyncSession, root_id: uuid.UUID) -> list[MemoryEntryRow]:
    query = (
        select(MemoryEntryRow)
        .where(MemoryEntryRow.root_id == root_id)
        .order_by(MemoryEntryRow.valid_from, MemoryEntryRow.created_at)
    )
    return list((await tx.scalars(query)).all())


async def latest_version(tx: AsyncSession, root_id: uuid.UUID) -> MemoryEntryRow:
    return (await versions(tx, root_id))[-1]


async def current_duplicate(tx: AsyncSession, user_id: str, digest: str) -> MemoryEntryRow | None:
    return await tx.scalar(
        select(MemoryEntryRow).where(
            MemoryEntryRow.user_id == user_id,
            MemoryEntryRow.content_hash == digest,
            MemoryEntryRow.superseded_by.is_(None),
        )
    )


# What an entry reads as, of its row's columns (not its vector, nor its content's hash).
ENTRY_COLUMNS = (
    MemoryEntryRow.id,
    MemoryEntryRow.root_id,
    MemoryEntryRow.user_id,
    MemoryEntryRow.content,
    MemoryEntryRow.category,
    MemoryEntryRow.importance,
    MemoryEntryRow.model_name,
    MemoryEntryRow.source_session_id,
    MemoryEntryRow.access_count,
    MemoryEntryRow.last_accessed_at,
    MemoryEntryRow.valid_from,
    MemoryEntryRow.valid_to,
    MemoryEntryRow.superseded_by,
    MemoryEntryRow.created_at,
)


def to_entry(row: MemoryEntryRow | Row[*tuple[Any, ...]]) -> MemoryEntry:
    """An entry from its ORM row, or from a statement's row of ENTRY_COLUMNS."""
    return MemoryEntry(
        id=row.id,
        root_id=row.root_id,
        user_id=row.user_id,
        content=row.content,
        category=row.category,  # type: ignore[arg-type]  # stored from a MemoryCategory
        importance=row.importance,
        model_name=row.model_name,
        source_session_id=row.source_session_id,
        access_count=row.access_count,
        last_accessed_at=row.last_accessed_at,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        superseded_by=row.superseded_by,
        created_at=row.created_at,
    )
