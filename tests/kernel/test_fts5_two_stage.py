"""SQLite's word search in two stages returns what one stage would among the rows that
hold a rare word: the same rows, in the same order, with the same scores, over random
questions of a corpus where a few words are in many rows and most in few."""

import random
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel import fts5_search, full_text
from app.kernel.database import open_module_database
from app.kernel.fts5_search import Fts5Table
from app.kernel.rarest_words import rarest_within
from app.kernel.settings import Settings
from app.modules.memory import word_index
from app.modules.rag import lexical_index

BUDGET = 40
WORDS = [f"w{i}" for i in range(40)]


def _corpus(rng: random.Random) -> list[dict[str, str]]:
    """Rows of 3-12 words, a few words in many rows and most in few (Zipf-like), some
    words repeated in a row, so rows differ in length and in how often they say a word."""
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [
        {
            "document_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "content": " ".join(rng.choices(WORDS, weights, k=rng.randint(3, 12))),
        }
        for _ in range(600)
    ]


async def _one_stage(
    tx: AsyncSession, index: Fts5Table, words: list[str]
) -> list[tuple[str, float, int]]:
    """(key, score, rowid) of every row holding any of the words, best first: FTS5
    asked once, the reference the two stages are held to."""
    found = await tx.execute(
        text(
            f"SELECT {index.key}, -bm25({index.name}) AS score, rowid FROM {index.name} "
            f"WHERE {index.name} MATCH :match ORDER BY bm25({index.name}), rowid"
        ),
        {"match": fts5_search.any_of(words)},
    )
    return [(row[0], float(row[1]), int(row[2])) for row in found]


async def test_two_stages_find_and_score_what_one_stage_finds_among_rows_of_a_rare_word(
    sqlite_settings: Settings, migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    database = open_module_database("rag", sqlite_settings)
    index: Fts5Table = lexical_index.INDEX.fts5
    rng = random.Random(5)
    monkeypatch.setattr(fts5_search, "POSTINGS_BUDGET", BUDGET)
    split = 0
    try:
        async with database.transaction() as tx:
            await lexical_index.INDEX.add(tx, _corpus(rng))
        async with database.read() as tx:
            for _ in range(60):
                words = rng.sample(WORDS[:20], rng.randint(2, 4))
                limit = rng.choice([1, 3, 5])
                rare = rarest_within(words, await index.rows_holding(tx, words), BUDGET)
                split += len(rare) < len(words)
                # One stage: every row holding any word, scored by all of them; kept:
                # those holding a rare word.
                every = await _one_stage(tx, index, words)
                holding_rare = {hit[2] for hit in await _one_stage(tx, index, rare)}
                expected = [(key, score) for key, score, at in every if at in holding_rare]
                found = await index.search(tx, words, limit, None)
                assert [key for key, _ in found] == [key for key, _ in expected[:limit]]
                assert [s for _, s in found] == pytest.approx([s for _, s in expected[:limit]])
        assert split > 30  # most questions went through two stages
    finally:
        await database.dispose()


async def test_an_owners_search_walks_its_own_rows_and_scores_them_as_the_whole_index_would(
    sqlite_settings: Settings, migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory's index numbers each owner's rows in a range: a search of one owner's rows
    returns none of another's, even before any look at the entries' table, and scores
    each as a search of every owner's rows does (the statistics are the whole index's),
    in two stages for an owner of many rows and in one for an owner of few."""
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    database = open_module_database("memory", sqlite_settings)
    index: Fts5Table = word_index.INDEX.fts5
    rng = random.Random(7)
    monkeypatch.setattr(fts5_search, "POSTINGS_BUDGET", BUDGET)
    rows = [{"entry_id": r["document_id"], "content": r["content"]} for r in _corpus(rng)]
    # Rows of three owners, interleaved as they would be written: "few" has 30 rows,
    # under the budget; the others share the rest.
    owners = ["few" if i % 20 == 0 else rng.choice(["ada", "bo"]) for i in range(len(rows))]
    keys_of = {
        o: {r["entry_id"] for r, of in zip(rows, owners, strict=True) if of == o}
        for o in set(owners)
    }
    try:
        async with database.transaction() as tx:
            for start in range(0, len(rows), 100):  # in batches, as memories arrive
                await word_index.INDEX.add(
                    tx, rows[start : start + 100], owners=owners[start : start + 100]
                )
        async with database.read() as tx:
            for _ in range(40):
                words = rng.sample(WORDS[:20], rng.randint(2, 4))
                every = await _one_stage(tx, index, words)
                rare = rarest_within(words, await index.rows_holding(tx, words), BUDGET)
                holding_rare = {hit[2] for hit in await _one_stage(tx, index, rare)}
                for owner, stages in (("ada", 2), ("few", 1)):
                    owned = await index.owner_rows(tx, full_text.owner_token(owner, "sqlite"))
                    assert owned is not None
                    expected = [
                        (key, score)
                        for key, score, at in every
                        if key in keys_of[owner] and (stages == 1 or at in holding_rare)
                    ][:5]
                    found = await index.search(tx, words, 5, owned)
                    assert [key for key, _ in found] == [key for key, _ in expected]
                    assert [s for _, s in found] == pytest.approx([s for _, s in expected])
            assert await index.owner_rows(tx, full_text.owner_token("nobody", "sqlite")) is None
    finally:
        await database.dispose()
