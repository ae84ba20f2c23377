"""SQLite's word search in two stages returns what one stage would among the rows that
hold a rare word: the same rows, in the same order, with the same scores, over random
questions of a corpus where a few words are in many rows and most in few."""

import random
import shutil
import uuid
from pathlib import Path

import pytest

from app.kernel import fts5_search
from app.kernel.database import open_module_database
from app.kernel.fts5_search import Fts5Table
from app.kernel.rarest_words import rarest_within
from app.kernel.settings import Settings
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
                every = await index._ranked(tx, fts5_search._any_of(words), 10_000, None)
                holding_rare = {
                    hit[2]
                    for hit in await index._ranked(tx, fts5_search._any_of(rare), 10_000, None)
                }
                expected = [(key, score) for key, score, at in every if at in holding_rare]
                found = await index.search(tx, words, limit, None)
                assert [key for key, _ in found] == [key for key, _ in expected[:limit]]
                assert [s for _, s in found] == pytest.approx([s for _, s in expected[:limit]])
        assert split > 30  # most questions went through two stages
    finally:
        await database.dispose()
