"""Edges between memories, kept between first versions so they hold across updates."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.memory import InvalidRelationship, Relationship

from .models import MemoryEntryRow, MemoryRelationshipRow


async def edges_of(tx: AsyncSession, root_ids: set[uuid.UUID]) -> list[MemoryRelationshipRow]:
    query = select(MemoryRelationshipRow).where(
        or_(
            MemoryRelationshipRow.source_id.in_(root_ids),
            MemoryRelationshipRow.target_id.in_(root_ids),
        )
    )
    return list((await tx.scalars(query.order_by(MemoryRelationshipRow.created_at))).all())


async def check_no_supersedes_cycle(
    tx: AsyncSession, source_root: uuid.UUID, target_root: uuid.UUID
) -> None:
    """`source supersedes target` must not close a loop: nothing target supersedes,
    however indirectly, may be the source."""
    seen, frontier = {target_root}, {target_root}
    while frontier:
        rows = await tx.scalars(
            select(MemoryRelationshipRow.target_id).where(
                MemoryRelationshipRow.relation_type == "supersedes",
                MemoryRelationshipRow.source_id.in_(frontier),
            )
        )
        frontier = set(rows.all()) - seen
        if source_root in frontier:
            raise InvalidRelationship(
                "that would make a cycle of supersedes: the target already supersedes the "
                "source, directly or through others",
                field="target_id",
            )
        seen |= frontier


def close_superseded(target: MemoryEntryRow, by: MemoryEntryRow, now: datetime) -> None:
    """A memory another supersedes is no longer valid (it stays, as history)."""
    if target.superseded_by is None:
        target.superseded_by, target.valid_to = by.id, now


def to_relationship(row: MemoryRelationshipRow) -> Relationship:
    return Relationship(
        id=row.id,
        source_id=row.source_id,
        target_id=row.target_id,
        relation_type=row.relation_type,  # type: ignore[arg-type]  # stored from a RelationType
        created_at=row.created_at,
    )
