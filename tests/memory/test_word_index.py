"""Memory's word search finds the user's entries through their owner's token in the
index (an FTS5 column on SQLite, a lexeme of the tsvector on PostgreSQL), and checks the
owner again on what it returns: a token that names another user's entries, as a
collision of tokens would, finds none of theirs."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import String, bindparam

from app.kernel import fts5_search, full_text, postgres_bm25
from app.kernel.database import open_module_database
from app.kernel.read_along import ReadAlong
from app.kernel.settings import Settings
from app.modules.memory import recall, word_index
from app.modules.memory.models import MemoryEntryRow
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryEntryCreate, RecallFilters
from tests.fakes.conversation import FakeConversation


async def _search(settings: Settings, user_id: str, query: str) -> list[uuid.UUID]:
    database = open_module_database("memory", settings)
    try:
        async with database.read() as tx:
            conditions = recall.filtered(RecallFilters(), datetime.now(UTC))
            found = await word_index.search(tx, user_id, query, conditions, 10)
        return [row.id for row, _ in found]
    finally:
        await database.dispose()


@pytest.fixture(params=["as set", "one row"])
def budget(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The word search's budget: as set (one stage here, and on SQLite the owner's token
    in the query), or one row (two stages, and on SQLite the owner's column alone)."""
    if request.param == "one row":
        monkeypatch.setattr(fts5_search, "POSTINGS_BUDGET", 1)
        monkeypatch.setattr(postgres_bm25, "POSTINGS_BUDGET", 1)


@pytest.fixture
async def entries(settings: Settings) -> dict[str, uuid.UUID]:
    """Alice's and Bob's entries sharing the same words, and one of Alice's without them."""
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=FakeConversation().as_api())
    try:
        ids = {}
        for key, user, content in [
            ("alice", "alice@example.com", "the lighthouse keeper feeds the gulls"),
            ("bob", "bob.b@example.com", "the lighthouse keeper feeds the gulls at dawn"),
            ("alice-other", "alice@example.com", "a quiet harbour"),
        ]:
            added = await service.add(user_id=user, entry=MemoryEntryCreate(content=content))
            ids[key] = added.entry.id
        return ids
    finally:
        await service.close()
        await database.dispose()


async def test_a_search_finds_only_the_callers_entries(
    settings: Settings, entries: dict[str, uuid.UUID], budget: None
) -> None:
    assert await _search(settings, "alice@example.com", "lighthouse gulls") == [entries["alice"]]
    assert await _search(settings, "bob.b@example.com", "lighthouse gulls") == [entries["bob"]]
    assert await _search(settings, "carol@example.com", "lighthouse gulls") == []


async def test_a_token_naming_another_users_entries_finds_none_of_them(
    settings: Settings,
    entries: dict[str, uuid.UUID],
    budget: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = full_text.owner_token
    # Alice's searches carry Bob's token, as if the two collided.
    monkeypatch.setattr(
        full_text,
        "owner_token",
        lambda owner, dialect: real("bob.b@example.com", dialect),
    )
    assert await _search(settings, "alice@example.com", "lighthouse gulls") == []
    assert await _search(settings, "bob.b@example.com", "lighthouse gulls") == [entries["bob"]]


@pytest.mark.parametrize("goals", [2, 8])
async def test_a_search_reads_along_the_columns_it_is_asked_for(
    settings: Settings, budget: None, goals: int
) -> None:
    """Each entry the search finds comes with the columns asked for, and with the values
    of their parameters, whether most of the best pass the conditions (2 of 20 do not:
    on SQLite the best few are read by their positions) or few do (2 of 20: SQLite
    searches again in one stage)."""
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=FakeConversation().as_api())
    contents = {}
    try:
        for i in range(20):
            entry = MemoryEntryCreate(
                content=f"the gulls {'gulls ' * (i % 5)}came to harbour {i}",
                category="goal" if i < goals else "fact",
            )
            added = (await service.add(user_id="alice", entry=entry)).entry
            contents[added.id] = entry.content

        async def tag() -> dict[str, str]:
            return {"tag": "asked"}

        along = ReadAlong(
            (MemoryEntryRow.content, bindparam("tag", type_=String).label("tag")), tag
        )
        conditions = [MemoryEntryRow.category == "goal"]
        async with database.read() as tx:
            plain = await word_index.search(tx, "alice", "gulls harbour", conditions, 3)
            read = await word_index.search(tx, "alice", "gulls harbour", conditions, 3, along=along)
    finally:
        await service.close()
        await database.dispose()
    assert [row.id for row, _ in read] == [row.id for row, _ in plain]
    assert [score for _, score in read] == pytest.approx([score for _, score in plain])
    assert len(read) == min(3, goals)
    assert all(row.content == contents[row.id] for row, _ in read)
    assert all(row.tag == "asked" for row, _ in read)
    scores = [score for _, score in read]
    assert scores == sorted(scores, reverse=True)
