"""The word search with conditions on SQLite: of the index's best, the first that pass,
in rank order, each read once; the same as ranking every row that holds the words and
keeping those that pass."""

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory import word_index
from app.modules.memory.models import MemoryEntryRow
from tests.memory.entry_rows import entry_row


async def test_the_first_to_pass_come_back_in_rank_order(
    sqlite_settings: Settings, migrated_sqlite: Path
) -> None:
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    database = open_module_database("memory", sqlite_settings)
    now = datetime.now(UTC)
    rows = []
    for n in range(1, 61):  # the more often a row says "bees", the better it ranks
        row = entry_row(uuid.uuid4(), "ada", np.ones(8, np.float32), "hashing-8", now)
        row["content"] = " ".join(["bees"] * n + ["honey"] * (61 - n))
        row["category"] = "goal" if n % 2 == 0 else "fact"
        rows.append(row)
    try:
        async with database.transaction() as tx:
            await tx.execute(insert(MemoryEntryRow), rows)
            await word_index.add(tx, [MemoryEntryRow(**row) for row in rows])
        goal = [MemoryEntryRow.category == "goal"]
        async with database.read() as tx:
            everything = await word_index.search(tx, "ada", "bees", [], len(rows))
            kept = await word_index.search(tx, "ada", "bees", goal, 5)
        categories = {row["id"]: row["category"] for row in rows}
        passing = [(r.id, score) for r, score in everything if categories[r.id] == "goal"]
        assert [(r.id, score) for r, score in kept] == passing[:5]
        # The five best goals: those saying "bees" most often.
        assert [r.id for r, _ in kept] == [
            row["id"] for row in rows[::-1] if row["category"] == "goal"
        ][:5]
    finally:
        await database.dispose()
