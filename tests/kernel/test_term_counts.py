"""SQLite's word search counts the rows holding a word once a while, not once a search:
the count made for one search serves the next ones in the same database for FRESH_S,
and a count a write has made stale never changes a score, only which words the first
stage looks up."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.kernel import fts5_search, term_counts
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.settings import Settings
from app.kernel.term_counts import RecentCounts
from app.modules.rag import lexical_index
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, SearchFilters
from tests.conftest import upgrade_all


def cats(n: int, start: int = 0) -> list[DocumentCreate]:
    return [
        DocumentCreate(source=f"cats/{i}", text=f"Cats sleep all day, story {i}.")
        for i in range(start, start + n)
    ]


def counted_vocabulary(database: ModuleDatabase) -> list[str]:
    """The statements that read the FTS5 vocabulary, as the database runs them."""
    seen: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def record(*args: Any) -> None:
        if "_vocab" in args[2]:
            seen.append(args[2])

    return seen


async def rows_holding(database: ModuleDatabase, words: list[str]) -> dict[str, int]:
    async with database.read() as tx:
        return await lexical_index.INDEX.fts5.rows_holding(tx, words)


async def test_a_words_rows_are_counted_once_a_while_in_each_database(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(fts5_search, "_COUNTS", RecentCounts(lambda: clock[0]))
    other_settings = replace(sqlite_settings, data_dir=Path(f"{sqlite_settings.data_dir}-other"))
    for each in (sqlite_settings, other_settings):
        await upgrade_all(each)
    database = open_module_database("rag", sqlite_settings)
    other = open_module_database("rag", other_settings)
    statements = counted_vocabulary(database)
    try:
        await RagService(database, sqlite_settings).ingest(documents=cats(6))
        await RagService(other, other_settings).ingest(documents=cats(2))
        assert await rows_holding(database, ["cats", "parrots"]) == {"cats": 6, "parrots": 0}
        assert len(statements) == 1
        # Counted already, even the word no row holds: no statement. A new word alone is.
        assert await rows_holding(database, ["parrots", "cats"]) == {"parrots": 0, "cats": 6}
        assert len(statements) == 1
        assert await rows_holding(database, ["cats", "sleep"]) == {"cats": 6, "sleep": 6}
        assert statements[-1].count("?") == 1  # only `sleep`'s term was asked for
        # Another database's counts are its own.
        assert await rows_holding(other, ["cats"]) == {"cats": 2}

        # Written since: the search goes on with the count it made, and scores as FTS5
        # does now (its own statistics), until the count is FRESH_S old.
        await RagService(database, sqlite_settings).ingest(documents=cats(4, start=6))
        assert await rows_holding(database, ["cats"]) == {"cats": 6}
        async with database.read() as tx:
            hits = await lexical_index.search(tx, "cats", 20, SearchFilters())
        assert len(hits) == 10
        clock[0] += term_counts.FRESH_S + 1
        assert await rows_holding(database, ["cats"]) == {"cats": 10}
    finally:
        await database.dispose()
        await other.dispose()
