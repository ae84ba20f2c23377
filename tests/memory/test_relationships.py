"""Edges between memories: both ends the caller's, no self-loops, no supersedes cycles."""

from __future__ import annotations

import uuid

import pytest

from contracts.memory import (
    InvalidRelationship,
    MemoryAPI,
    MemoryEntry,
    MemoryEntryCreate,
    MemoryEntryUpdate,
    MemoryNotFound,
    RecallQuery,
    RelationshipCreate,
    RelationType,
)


async def remember(memory: MemoryAPI, content: str, user_id: str = "alice") -> MemoryEntry:
    return (await memory.add(user_id=user_id, entry=MemoryEntryCreate(content=content))).entry


async def test_neighbours_reach_two_hops_in_both_directions(memory: MemoryAPI) -> None:
    a, b, c, d = [await remember(memory, text) for text in ("a", "b", "c", "d")]
    await memory.relate(
        user_id="alice", source_id=a.id, relationship=RelationshipCreate(target_id=b.id)
    )
    await memory.relate(
        user_id="alice",
        source_id=c.id,
        relationship=RelationshipCreate(target_id=b.id, relation_type="supports"),
    )
    await memory.relate(
        user_id="alice", source_id=c.id, relationship=RelationshipCreate(target_id=d.id)
    )
    found = await memory.relationships(memory_id=a.id, user_id="alice")
    assert [(r.source_id, r.target_id) for r in found.relationships] == [(a.id, b.id)]
    assert {(n.entry.content, n.depth) for n in found.neighbours} == {("b", 1), ("c", 2)}


async def test_edges_follow_a_memory_across_its_versions(memory: MemoryAPI) -> None:
    a, b = await remember(memory, "a"), await remember(memory, "b")
    await memory.relate(
        user_id="alice", source_id=a.id, relationship=RelationshipCreate(target_id=b.id)
    )
    b2 = await memory.update(
        memory_id=b.id, user_id="alice", change=MemoryEntryUpdate(content="b2")
    )
    found = await memory.relationships(memory_id=a.id, user_id="alice")
    assert [n.entry.id for n in found.neighbours] == [b2.id]


async def test_the_same_edge_again_returns_it(memory: MemoryAPI) -> None:
    a, b = await remember(memory, "a"), await remember(memory, "b")
    edge = RelationshipCreate(target_id=b.id)
    first = await memory.relate(user_id="alice", source_id=a.id, relationship=edge)
    again = await memory.relate(user_id="alice", source_id=a.id, relationship=edge)
    assert first.id == again.id


async def test_self_and_foreign_edges_are_refused(memory: MemoryAPI) -> None:
    a = await remember(memory, "a")
    bobs = await remember(memory, "b", user_id="bob")
    with pytest.raises(InvalidRelationship):
        await memory.relate(
            user_id="alice", source_id=a.id, relationship=RelationshipCreate(target_id=a.id)
        )
    with pytest.raises(MemoryNotFound):
        await memory.relate(
            user_id="alice", source_id=a.id, relationship=RelationshipCreate(target_id=bobs.id)
        )
    with pytest.raises(MemoryNotFound):
        await memory.relate(
            user_id="alice", source_id=a.id, relationship=RelationshipCreate(target_id=uuid.uuid4())
        )
    assert (await memory.relationships(memory_id=a.id, user_id="alice")).relationships == []


async def test_supersedes_retires_the_target_and_cannot_loop(memory: MemoryAPI) -> None:
    old, new, newest = [await remember(memory, f"zebra {n}") for n in ("old", "new", "newest")]
    supersedes: RelationType = "supersedes"
    await memory.relate(
        user_id="alice",
        source_id=new.id,
        relationship=RelationshipCreate(target_id=old.id, relation_type=supersedes),
    )
    await memory.relate(
        user_id="alice",
        source_id=newest.id,
        relationship=RelationshipCreate(target_id=new.id, relation_type=supersedes),
    )
    with pytest.raises(InvalidRelationship, match="cycle"):
        await memory.relate(
            user_id="alice",
            source_id=old.id,
            relationship=RelationshipCreate(target_id=newest.id, relation_type=supersedes),
        )
    retired = await memory.get(memory_id=old.id, user_id="alice")
    assert retired.superseded_by == new.id and retired.valid_to is not None
    recalled = await memory.recall(user_id="alice", query=RecallQuery(query="zebra"))
    assert [r.entry.content for r in recalled.items] == ["zebra newest"]
