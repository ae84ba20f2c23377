"""Recall: each factor of the score, decay against importance, filters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from app.kernel.database import ModuleUnavailable, open_module_database
from app.kernel.embedding import Vectors, create_embedder
from app.kernel.settings import Settings
from app.modules.memory import recall_bookkeeping
from app.modules.memory import service as service_module
from app.modules.memory.recaller import Recaller
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryAPI, MemoryEntryCreate, RecallFilters, RecallQuery
from tests.fakes.conversation import FakeConversation

from .conftest import Clock

HALF_LIFE_S = 30 * 86_400  # the default BULKHEAD_MEMORY_HALF_LIFE


async def test_factors_add_up_to_the_score(memory: MemoryAPI) -> None:
    await memory.add(
        user_id="alice",
        entry=MemoryEntryCreate(content="Allergic to peanuts and shellfish", importance=0.8),
    )
    result = await memory.recall(user_id="alice", query=RecallQuery(query="peanuts allergy"))
    [hit] = result.items
    f = hit.factors
    assert f.lexical == 1.0  # the only word match is the best one
    assert 0 < f.semantic <= 1 and f.importance == 0.8 and f.recency == 1.0
    assert f.relevance == pytest.approx(0.7 * f.semantic + 0.3 * f.lexical, abs=1e-5)
    assert f.score == pytest.approx(f.relevance + f.importance + f.recency, abs=1e-5)


async def test_semantic_is_the_cosine_of_the_query_and_the_memory(
    memory: MemoryAPI, settings: Settings
) -> None:
    content, question = "Allergic to peanuts and shellfish", "peanuts or cashews"
    await memory.add(user_id="alice", entry=MemoryEntryCreate(content=content))
    [hit] = (await memory.recall(user_id="alice", query=RecallQuery(query=question))).items
    stored, asked = await create_embedder(settings.embedding_model, settings).embed(
        [content, question]
    )
    assert 0 < hit.factors.semantic == pytest.approx(float(np.dot(stored, asked)), abs=2e-6)


@pytest.mark.parametrize(("half_lives", "first"), [(1, "important"), (4, "trivial")])
async def test_old_important_memory_against_new_trivial_one_of_equal_relevance(
    memory: MemoryAPI, clock: Clock, half_lives: int, first: str
) -> None:
    # Same words but one each, same length: the same relevance to the query.
    await memory.add(
        user_id="alice", entry=MemoryEntryCreate(content="zebra alpha", importance=0.9)
    )
    clock.advance(half_lives * HALF_LIFE_S)
    await memory.add(user_id="alice", entry=MemoryEntryCreate(content="zebra beta", importance=0.1))
    result = await memory.recall(user_id="alice", query=RecallQuery(query="zebra"))
    old, new = sorted(result.items, key=lambda r: r.entry.content)
    assert old.factors.relevance == pytest.approx(new.factors.relevance, abs=1e-6)
    assert old.factors.recency == pytest.approx(0.5**half_lives, abs=1e-6)
    assert new.factors.recency == 1.0
    # score: 0.9 + 0.5 beats 0.1 + 1 after one half-life; 0.9 + 0.0625 does not after four.
    winner = "zebra alpha" if first == "important" else "zebra beta"
    assert result.items[0].entry.content == winner


async def test_recall_touches_what_it_returns(memory: MemoryAPI, clock: Clock) -> None:
    added = await memory.add(user_id="alice", entry=MemoryEntryCreate(content="zebra alpha"))
    clock.advance(HALF_LIFE_S)
    first = await memory.recall(user_id="alice", query=RecallQuery(query="zebra"))
    assert first.items[0].factors.recency == pytest.approx(0.5)
    assert first.items[0].entry == added.entry  # as it was when recalled, not as touched
    again = await memory.recall(user_id="alice", query=RecallQuery(query="zebra"))
    assert again.items[0].factors.recency == 1.0
    assert (again.items[0].entry.access_count, again.items[0].entry.last_accessed_at) == (
        1,
        clock(),
    )
    entry = await memory.get(memory_id=added.entry.id, user_id="alice")
    assert entry.access_count == 2 and entry.last_accessed_at == clock()


async def test_filters_by_category_and_time(memory: MemoryAPI, clock: Clock) -> None:
    start = clock()
    await memory.add(
        user_id="alice", entry=MemoryEntryCreate(content="flight to Rome", category="event")
    )
    clock.advance(3600)
    middle = clock()
    await memory.add(
        user_id="alice",
        entry=MemoryEntryCreate(content="prefers flight aisle", category="preference"),
    )
    query = "flight"

    async def contents(filters: RecallFilters) -> list[str]:
        result = await memory.recall(
            user_id="alice", query=RecallQuery(query=query, filters=filters)
        )
        return sorted(r.entry.content for r in result.items)

    assert await contents(RecallFilters(categories=["event"])) == ["flight to Rome"]
    assert await contents(RecallFilters(created_after=middle)) == ["prefers flight aisle"]
    assert await contents(RecallFilters(created_before=middle, created_after=start)) == [
        "flight to Rome"
    ]
    assert await contents(RecallFilters(categories=["goal"])) == []


async def test_limit_caps_the_results_best_first(memory: MemoryAPI) -> None:
    for i in range(6):
        await memory.add(
            user_id="alice",
            entry=MemoryEntryCreate(content=f"zebra note {i}", importance=i / 10),
        )
    result = await memory.recall(user_id="alice", query=RecallQuery(query="zebra", limit=3))
    scores = [r.factors.score for r in result.items]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert [r.entry.content for r in result.items] == [
        "zebra note 5",
        "zebra note 4",
        "zebra note 3",
    ]


async def test_an_entry_deleted_while_it_is_recalled_is_left_out(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entries are read by the searches, scored, then touched, and returned as they
    were when read. One deleted between the read and the touch is neither touched nor
    returned, on either backend; the rest are."""
    database = open_module_database("memory", settings)
    memory = MemoryService(database, settings, conversation=FakeConversation().as_api())
    touch = recall_bookkeeping.touch_and_log

    async def after_a_delete(*args: Any, **kwargs: Any) -> Any:
        await memory.delete(memory_id=gone.entry.id, user_id="alice")
        return await touch(*args, **kwargs)

    best = Recaller._best
    scored: list[uuid.UUID] = []

    def seen(self: Recaller, *args: Any, **kwargs: Any) -> Any:
        found = best(self, *args, **kwargs)
        scored.extend(candidate.id for _, candidate in found)
        return found

    monkeypatch.setattr(Recaller, "_best", seen)
    try:
        kept = await memory.add(user_id="alice", entry=MemoryEntryCreate(content="zebra alpha"))
        gone = await memory.add(user_id="alice", entry=MemoryEntryCreate(content="zebra beta"))
        monkeypatch.setattr(recall_bookkeeping, "touch_and_log", after_a_delete)
        result = await memory.recall(user_id="alice", query=RecallQuery(query="zebra"))
        touched = await memory.get(memory_id=kept.entry.id, user_id="alice")
        left = await memory.list_memories(user_id="alice")
    finally:
        await memory.close()
        await database.dispose()
    assert sorted(scored) == sorted([kept.entry.id, gone.entry.id])  # both read and scored
    assert [r.entry.id for r in result.items] == [kept.entry.id]
    assert [e.id for e in left.items] == [kept.entry.id]
    assert result.items[0].entry.access_count == 0 and touched.access_count == 1


async def test_a_recall_refused_by_its_database_does_not_wait_for_the_model(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The query is embedded while the connection is checked out: when the database
    refuses (its breaker open after failures), the recall answers 503 at once, and the
    embedding it no longer needs is cancelled, not left running."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    class StuckModel:
        model_name = settings.embedding_model

        async def embed(self, texts: Sequence[str]) -> Vectors:
            started.set()
            try:
                await asyncio.Event().wait()  # a model that never answers
            except asyncio.CancelledError:
                cancelled.set()
                raise
            raise AssertionError("unreachable")

    monkeypatch.setattr(service_module, "create_embedder", lambda *_: StuckModel())
    database = open_module_database("memory", settings)
    memory = MemoryService(database, settings, conversation=FakeConversation().as_api())
    try:
        while database.breaker.state != "open":  # failures in a row open it
            database.breaker.failed()
        with pytest.raises(ModuleUnavailable, match="memory module's database"):
            await asyncio.wait_for(
                memory.recall(user_id="alice", query=RecallQuery(query="zebra")), 5
            )
        assert started.is_set()
        await asyncio.wait_for(cancelled.wait(), 5)
    finally:
        await memory.close()
        await database.dispose()
