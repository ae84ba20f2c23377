"""Typed relationships between a user's memories, and their two-step neighbourhood."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.kernel.validation import validated
from contracts.memory import (
    InvalidRelationship,
    Neighbour,
    Relationship,
    RelationshipCreate,
    Relationships,
)

from . import relationships
from .entries import (
    latest_version,
    owned,
    to_entry,
)
from .models import (
    MemoryRelationshipRow,
)
from .part import MemoryPart


class RelationshipGraph(MemoryPart):
    """relate (refusing supersedes cycles) and read relationships with neighbours."""

    async def relate(
        self, *, user_id: str, source_id: uuid.UUID, relationship: RelationshipCreate
    ) -> Relationship:
        relationship = validated(relationship)
        async with self._db.transaction() as tx:
            source = await owned(tx, source_id, user_id)
            target = await owned(tx, relationship.target_id, user_id)
            if source.root_id == target.root_id:
                raise InvalidRelationship("a memory cannot be related to itself", field="target_id")
            existing = await tx.scalar(
                select(MemoryRelationshipRow).where(
                    MemoryRelationshipRow.source_id == source.root_id,
                    MemoryRelationshipRow.target_id == target.root_id,
                    MemoryRelationshipRow.relation_type == relationship.relation_type,
                )
            )
            if existing is not None:
                return relationships.to_relationship(existing)
            if relationship.relation_type == "supersedes":
                await relationships.check_no_supersedes_cycle(tx, source.root_id, target.root_id)
                relationships.close_superseded(
                    await latest_version(tx, target.root_id),
                    await latest_version(tx, source.root_id),
                    self._clock(),
                )
            row = MemoryRelationshipRow(
                id=uuid.uuid4(),
                source_id=source.root_id,
                target_id=target.root_id,
                relation_type=relationship.relation_type,
                created_at=self._clock(),
            )
            tx.add(row)
        return relationships.to_relationship(row)

    async def relationships(self, *, memory_id: uuid.UUID, user_id: str) -> Relationships:
        async with self._db.read() as tx:
            root = (await owned(tx, memory_id, user_id)).root_id
            own = await relationships.edges_of(tx, {root})
            neighbours: list[tuple[uuid.UUID, int, MemoryRelationshipRow]] = []
            seen, frontier = {root}, {root}
            for depth in (1, 2):
                edges = own if depth == 1 else await relationships.edges_of(tx, frontier)
                reached: set[uuid.UUID] = set()
                for edge in edges:
                    for end in (edge.source_id, edge.target_id):
                        if end not in seen and (
                            edge.source_id in frontier or edge.target_id in frontier
                        ):
                            seen.add(end)
                            reached.add(end)
                            neighbours.append((end, depth, edge))
                frontier = reached
            entries = {
                root_id: to_entry(await latest_version(tx, root_id)) for root_id, _, _ in neighbours
            }
        return Relationships(
            relationships=[relationships.to_relationship(e) for e in own],
            neighbours=[
                Neighbour(
                    entry=entries[root_id], depth=depth, via=relationships.to_relationship(edge)
                )
                for root_id, depth, edge in neighbours
            ],
        )
