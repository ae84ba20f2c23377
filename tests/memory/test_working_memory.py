"""Working memory through MemoryAPI: seeding, idempotent initialize/cleanup, ownership."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.service import MemoryService
from contracts.errors import InvalidInput
from contracts.memory import (
    MemoryAPI,
    MemoryEntryCreate,
    RecallQuery,
    WorkingMemoryItemCreate,
    WorkingMemoryNotFound,
    WorkingMemoryUnavailable,
)
from tests.fakes.conversation import FakeConversation
from tests.over_the_wire import contract_under_test

from .conftest import Clock

TURN = WorkingMemoryItemCreate(kind="turn", role="user", content="book me a table")


@pytest.fixture(
    params=[
        ("in-process", "in-process"),
        pytest.param(("redis", "in-process"), marks=pytest.mark.redis),
        pytest.param(("redis", "over-http"), marks=pytest.mark.redis),
    ],
    ids=["store-in-process", "store-redis", "store-redis-over-http"],
)
async def memory_on(
    request: pytest.FixtureRequest, settings: Settings, clock: Clock, conversation: FakeConversation
) -> AsyncIterator[MemoryAPI]:
    """The service with working memory in the process, or in Redis under a test prefix;
    with Redis also through its HTTP client against a real server of it."""
    store, mode = request.param
    if store == "redis":
        settings = replace(
            settings,
            redis_url=request.getfixturevalue("redis_url"),
            redis_key_prefix=request.getfixturevalue("redis_prefix"),
        )
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=conversation.as_api(), clock=clock)
    async with contract_under_test(mode, "memory", service, database, settings) as api:
        yield api


async def test_initialize_seeds_the_most_important_memories(
    memory_on: MemoryAPI, conversation: FakeConversation
) -> None:
    for i in range(7):
        await memory_on.add(
            user_id="alice", entry=MemoryEntryCreate(content=f"memory {i}", importance=i / 10)
        )
    session = conversation.open_session("alice")
    working = await memory_on.initialize(session_id=session, user_id="alice", idempotency_key="k1")
    assert [i.content for i in working.items] == [f"memory {i}" for i in (6, 5, 4, 3, 2)]
    assert all(i.kind == "fact" and i.memory_id is not None for i in working.items)


async def test_initialize_and_cleanup_are_idempotent(
    memory_on: MemoryAPI, conversation: FakeConversation
) -> None:
    session = conversation.open_session("alice")
    first = await memory_on.initialize(session_id=session, user_id="alice", idempotency_key="a")
    await memory_on.remember_in_session(session_id=session, user_id="alice", item=TURN)
    again = await memory_on.initialize(session_id=session, user_id="alice", idempotency_key="a")
    assert first.items == [] and [i.content for i in again.items] == ["book me a table"]
    await memory_on.cleanup(session_id=session, idempotency_key="c")
    await memory_on.cleanup(session_id=session, idempotency_key="c")
    with pytest.raises(WorkingMemoryNotFound):
        await memory_on.working_memory(session_id=session, user_id="alice")
    # A retried initialize (same key) after the cleanup changes nothing.
    late = await memory_on.initialize(session_id=session, user_id="alice", idempotency_key="a")
    assert late.items == []
    with pytest.raises(WorkingMemoryNotFound):
        await memory_on.working_memory(session_id=session, user_id="alice")


async def test_working_memory_expires_after_its_ttl_unless_used(
    memory_on: MemoryAPI, conversation: FakeConversation, clock: Clock
) -> None:
    session = conversation.open_session("alice")
    await memory_on.initialize(session_id=session, user_id="alice", idempotency_key="k")
    clock.advance(3000)
    await memory_on.working_memory(session_id=session, user_id="alice")  # renews: 1 h again
    clock.advance(3000)
    await memory_on.working_memory(session_id=session, user_id="alice")
    clock.advance(3601)
    with pytest.raises(WorkingMemoryNotFound, match="expired"):
        await memory_on.working_memory(session_id=session, user_id="alice")


async def test_another_users_session_is_not_found(
    memory_on: MemoryAPI, conversation: FakeConversation
) -> None:
    session = conversation.open_session("alice")
    await memory_on.initialize(session_id=session, user_id="alice", idempotency_key="k")
    with pytest.raises(WorkingMemoryNotFound):
        await memory_on.working_memory(session_id=session, user_id="bob")
    with pytest.raises(WorkingMemoryNotFound):
        await memory_on.remember_in_session(session_id=session, user_id="bob", item=TURN)
    bobs = conversation.open_session("bob")
    with pytest.raises(WorkingMemoryNotFound):  # alice cannot start bob's either
        await memory_on.remember_in_session(session_id=bobs, user_id="alice", item=TURN)


async def test_first_write_to_a_session_the_user_owns_creates_its_working_memory(
    memory_on: MemoryAPI, conversation: FakeConversation
) -> None:
    session = conversation.open_session("alice")
    working = await memory_on.remember_in_session(session_id=session, user_id="alice", item=TURN)
    assert [(i.kind, i.role, i.content) for i in working.items] == [
        ("turn", "user", "book me a table")
    ]
    fact = WorkingMemoryItemCreate(kind="fact", content="party of four")
    working = await memory_on.remember_in_session(session_id=session, user_id="alice", item=fact)
    assert [i.content for i in working.items] == ["book me a table", "party of four"]
    with pytest.raises(InvalidInput):
        await memory_on.remember_in_session(
            session_id=session,
            user_id="alice",
            item=WorkingMemoryItemCreate(kind="fact", role="user", content="x"),
        )


async def test_delete_user_removes_working_and_long_term_memory(
    memory_on: MemoryAPI, conversation: FakeConversation
) -> None:
    session = conversation.open_session("alice")
    await memory_on.add(user_id="alice", entry=MemoryEntryCreate(content="zebra alpha"))
    await memory_on.add(user_id="bob", entry=MemoryEntryCreate(content="zebra beta"))
    await memory_on.remember_in_session(session_id=session, user_id="alice", item=TURN)
    await memory_on.delete_user(user_id="alice")
    assert (await memory_on.list_memories(user_id="alice")).items == []
    with pytest.raises(WorkingMemoryNotFound):
        await memory_on.working_memory(session_id=session, user_id="alice")
    bobs = await memory_on.recall(user_id="bob", query=RecallQuery(query="zebra"))
    assert [r.entry.content for r in bobs.items] == ["zebra beta"]


async def test_with_redis_down_working_memory_is_unavailable_and_long_term_works(
    settings: Settings, clock: Clock, conversation: FakeConversation
) -> None:
    database = open_module_database("memory", settings)
    # While the store was up, alice got a session's working memory and a memory.
    up = MemoryService(database, settings, conversation=conversation.as_api(), clock=clock)
    session = conversation.open_session("alice")
    await up.remember_in_session(session_id=session, user_id="alice", item=TURN)
    kept = await up.add(user_id="alice", entry=MemoryEntryCreate(content="zebra"))
    down = replace(settings, redis_url="redis://127.0.0.1:1/0")
    service = MemoryService(database, down, conversation=conversation.as_api(), clock=clock)
    try:
        with pytest.raises(WorkingMemoryUnavailable):
            await service.working_memory(session_id=session, user_id="alice")
        other = conversation.open_session("alice")
        with pytest.raises(WorkingMemoryUnavailable):
            await service.remember_in_session(session_id=other, user_id="alice", item=TURN)
        # Deleting a user is all or nothing: with the store down, nothing is deleted.
        with pytest.raises(WorkingMemoryUnavailable):
            await service.delete_user(user_id="alice")
        added = await service.add(user_id="alice", entry=MemoryEntryCreate(content="zebra two"))
        recalled = await service.recall(user_id="alice", query=RecallQuery(query="zebra"))
        assert {r.entry.id for r in recalled.items} == {kept.entry.id, added.entry.id}
        health = await service.component_health()
        assert health["working_memory"].ok is False
        assert "Redis at 127.0.0.1:1/0" in (health["working_memory"].error or "")
        stats = await service.stats(since=clock(), until=clock())
        assert stats.working_memory_sessions_live is None
    finally:
        await service.close()
        await up.close()
        await database.dispose()
