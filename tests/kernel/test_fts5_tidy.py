"""Each write to a word index merges a little of it: rows written a few at a time leave
the index in a few segments, where FTS5 alone leaves many, and a search finds the same
rows with the same scores either way."""

import random
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import open_module_database
from app.kernel.fts5_search import Fts5Table
from app.kernel.full_text import owner_token
from app.kernel.settings import Settings
from app.modules.memory import word_index

WORDS = [f"w{i}" for i in range(60)]
WRITES = 1000


def _varint(block: bytes, at: int) -> tuple[int, int]:
    """SQLite's variable-length integer at `at` in `block`, and where the next begins."""
    value = 0
    for i in range(8):
        byte = block[at + i]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + i + 1
    return (value << 8) | block[at + 8], at + 9


async def _segments(tx: AsyncSession, index: Fts5Table) -> int:
    """How many segments the index holds, from FTS5's structure record (row 10 of
    `<table>_data`: a 4-byte cookie, a version marker in newer files, then the number
    of levels and of segments as varints): FTS5 has no call that says it."""
    found = await tx.execute(text(f"SELECT block FROM {index.name}_data WHERE id = 10"))
    block = bytes(found.scalar_one())
    at = 8 if block[4:8] == b"\xff\x00\x00\x01" else 4
    _, at = _varint(block, at)  # levels
    return _varint(block, at)[0]


async def _written_a_few_at_a_time(settings: Settings) -> tuple[int, list[tuple[str, float]]]:
    """Memories of two users written three to a transaction, as users write them: how
    many segments the index holds afterwards, and a search of one user's."""
    rng = random.Random(3)
    database = open_module_database("memory", settings)
    index = word_index.INDEX
    try:
        for _ in range(WRITES):
            rows = [
                {
                    "entry_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                    "content": " ".join(rng.choices(WORDS, k=rng.randint(4, 12))),
                }
                for _ in range(3)
            ]
            async with database.transaction() as tx:
                await index.add(tx, rows, owners=[rng.choice("ab") for _ in rows])
        async with database.read() as tx:
            owned = await index.fts5.owner_rows(tx, owner_token("a", "sqlite"))
            found = await index.fts5.search(tx, ["w1", "w7", "w30"], 50, owned)
            return await _segments(tx, index.fts5), found
    finally:
        await database.dispose()


async def test_writes_a_few_at_a_time_leave_few_segments_and_the_same_results(
    sqlite_settings: Settings, migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    tidied, found = await _written_a_few_at_a_time(sqlite_settings)

    shutil.rmtree(sqlite_settings.data_dir)
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)

    async def untidy(self: Fts5Table, tx: AsyncSession) -> None:
        return None

    monkeypatch.setattr(Fts5Table, "tidy", untidy)
    left_alone, found_alone = await _written_a_few_at_a_time(sqlite_settings)

    assert tidied <= 4 < 8 <= left_alone
    assert found == found_alone and len(found) == 50
