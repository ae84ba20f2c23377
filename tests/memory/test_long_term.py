"""Long-term memories: add, duplicates, versions, history, deletion, isolation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from contracts.errors import InvalidInput
from contracts.memory import (
    DuplicateMemory,
    MemoryAPI,
    MemoryEntryCreate,
    MemoryEntryUpdate,
    MemoryNotFound,
    MemorySuperseded,
    RecallQuery,
)

from .conftest import Clock


async def test_exact_duplicate_merges_into_the_current_memory(memory: MemoryAPI) -> None:
    first = await memory.add(
        user_id="alice", entry=MemoryEntryCreate(content="Likes green tea", importance=0.3)
    )
    again = await memory.add(
        user_id="alice", entry=MemoryEntryCreate(content="  likes GREEN   tea ", importance=0.8)
    )
    assert (first.merged, again.merged) == (False, True)
    assert again.entry.id == first.entry.id
    assert (again.entry.importance, again.entry.access_count) == (0.8, 1)
    page = await memory.list_memories(user_id="alice")
    assert [e.content for e in page.items] == ["Likes green tea"]
    # Another user's same words are their own memory.
    bobs = await memory.add(user_id="bob", entry=MemoryEntryCreate(content="Likes green tea"))
    assert not bobs.merged and bobs.entry.id != first.entry.id


async def test_update_adds_a_version_and_history_keeps_the_old_one(
    memory: MemoryAPI, clock: Clock
) -> None:
    added = await memory.add(
        user_id="alice", entry=MemoryEntryCreate(content="Lives in Porto", category="fact")
    )
    clock.advance(60)
    moved = await memory.update(
        memory_id=added.entry.id,
        user_id="alice",
        change=MemoryEntryUpdate(content="Lives in Lisbon", importance=0.9),
    )
    assert moved.root_id == added.entry.id and moved.id != added.entry.id
    assert (moved.category, moved.importance) == ("fact", 0.9)
    history = await memory.history(memory_id=moved.id, user_id="alice")
    assert [(e.content, e.superseded_by) for e in history] == [
        ("Lives in Porto", moved.id),
        ("Lives in Lisbon", None),
    ]
    assert history[0].valid_to == moved.valid_from
    with pytest.raises(MemorySuperseded):
        await memory.update(
            memory_id=added.entry.id, user_id="alice", change=MemoryEntryUpdate(importance=0.1)
        )
    # Only the current version is listed and recalled; the old one on request.
    current = await memory.list_memories(user_id="alice")
    assert [e.content for e in current.items] == ["Lives in Lisbon"]
    everything = await memory.list_memories(user_id="alice", include_superseded=True)
    assert len(everything.items) == 2
    recalled = await memory.recall(user_id="alice", query=RecallQuery(query="lives in porto"))
    assert [r.entry.content for r in recalled.items] == ["Lives in Lisbon"]


async def test_a_chain_of_updates_keeps_every_version(memory: MemoryAPI, clock: Clock) -> None:
    entry = (await memory.add(user_id="alice", entry=MemoryEntryCreate(content="v1"))).entry
    for text in ("v2", "v3", "v4"):
        clock.advance(1)
        entry = await memory.update(
            memory_id=entry.id, user_id="alice", change=MemoryEntryUpdate(content=text)
        )
    history = await memory.history(memory_id=entry.root_id, user_id="alice")
    assert [e.content for e in history] == ["v1", "v2", "v3", "v4"]
    assert [e.superseded_by for e in history] == [h.id for h in history[1:]] + [None]


async def test_update_to_what_another_memory_says_is_a_conflict(memory: MemoryAPI) -> None:
    await memory.add(user_id="alice", entry=MemoryEntryCreate(content="Owns a cat"))
    dog = await memory.add(user_id="alice", entry=MemoryEntryCreate(content="Owns a dog"))
    with pytest.raises(DuplicateMemory):
        await memory.update(
            memory_id=dog.entry.id, user_id="alice", change=MemoryEntryUpdate(content="owns a CAT")
        )
    assert (await memory.get(memory_id=dog.entry.id, user_id="alice")).superseded_by is None


async def test_expired_memory_leaves_lists_and_recall(memory: MemoryAPI, clock: Clock) -> None:
    ends = clock() + timedelta(hours=1)
    await memory.add(
        user_id="alice", entry=MemoryEntryCreate(content="Is in Paris this week", valid_to=ends)
    )
    query = RecallQuery(query="where is she this week in paris")
    assert len((await memory.recall(user_id="alice", query=query)).items) == 1
    clock.advance(3601)
    assert (await memory.recall(user_id="alice", query=query)).items == []
    assert (await memory.list_memories(user_id="alice")).items == []


@pytest.mark.parametrize(
    "entry",
    [
        {"content": ""},
        {"content": "   "},
        {"content": "x", "importance": 1.5},
        {"content": "x", "importance": -0.1},
    ],
)
async def test_bad_input_is_refused_and_nothing_written(
    memory: MemoryAPI, entry: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        await memory.add(user_id="alice", entry=MemoryEntryCreate(**entry))
    assert (await memory.list_memories(user_id="alice")).items == []


async def test_another_users_memory_is_not_found_for_every_operation(memory: MemoryAPI) -> None:
    added = await memory.add(user_id="alice", entry=MemoryEntryCreate(content="A secret"))
    memory_id = added.entry.id
    for call in (
        memory.get(memory_id=memory_id, user_id="bob"),
        memory.history(memory_id=memory_id, user_id="bob"),
        memory.update(memory_id=memory_id, user_id="bob", change=MemoryEntryUpdate(importance=1)),
        memory.delete(memory_id=memory_id, user_id="bob"),
        memory.relationships(memory_id=memory_id, user_id="bob"),
    ):
        with pytest.raises(MemoryNotFound):
            await call
    with pytest.raises(MemoryNotFound):
        await memory.get(memory_id=uuid.uuid4(), user_id="alice")
    recalled = await memory.recall(user_id="bob", query=RecallQuery(query="a secret"))
    assert recalled.items == []
    assert (await memory.get(memory_id=memory_id, user_id="alice")).content == "A secret"


async def test_delete_removes_every_version(memory: MemoryAPI) -> None:
    added = await memory.add(user_id="alice", entry=MemoryEntryCreate(content="old"))
    new = await memory.update(
        memory_id=added.entry.id, user_id="alice", change=MemoryEntryUpdate(content="new")
    )
    await memory.delete(memory_id=added.entry.id, user_id="alice")
    for memory_id in (added.entry.id, new.id):
        with pytest.raises(MemoryNotFound):
            await memory.get(memory_id=memory_id, user_id="alice")
    recalled = await memory.recall(user_id="alice", query=RecallQuery(query="new old"))
    assert recalled.items == []


async def test_concurrent_adds_of_the_same_memory_make_one(memory: MemoryAPI) -> None:
    results = await asyncio.gather(
        *(
            memory.add(user_id="alice", entry=MemoryEntryCreate(content="Speaks Portuguese"))
            for _ in range(5)
        )
    )
    assert len({r.entry.id for r in results}) == 1
    assert sorted(r.merged for r in results) == [False, True, True, True, True]
    assert len((await memory.list_memories(user_id="alice")).items) == 1
