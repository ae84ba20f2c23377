"""Memory's word search finds the user's entries through their owner's token in the
index (an FTS5 column on SQLite, a lexeme of the tsvector on PostgreSQL), and checks the
owner again on what it returns: a token that names another user's entries, as a
collision of tokens would, finds none of theirs."""

import uuid
from datetime import UTC, datetime

import pytest

from app.kernel import fts5_search, full_text, postgres_bm25
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory import recall, word_index
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryEntryCreate, RecallFilters
from tests.fakes.conversation import FakeConversation


async def _search(settings: Settings, user_id: str, query: str) -> list[uuid.UUID]:
    database = open_module_database("memory", settings)
    try:
        async with database.read() as tx:
            conditions = recall.filtered(RecallFilters(), datetime.now(UTC))
            found = await word_index.search(tx, user_id, query, conditions, 10)
        return [entry_id for entry_id, _ in found]
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
