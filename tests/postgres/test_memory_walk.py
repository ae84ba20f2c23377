"""On PostgreSQL, memory's nearest by meaning walks the HNSW index for a user holding much
of the table, where the planner scanned all their rows (it prices a distance at about a
hundredth of its cost: 28-38 ms a recall at 10k memories, against 5-8 ms walked), and
leaves a user with few memories to the scan the planner picks (a walk would pass over
everyone else's first). Which of the two is read off the user's share of the table
as ANALYZE counted it, once a while per process (`recent.FRESH_S`)."""

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import delete, event, func, insert, select, text

from app.kernel import recent
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.recent import Recent
from app.kernel.settings import Settings
from app.kernel.vector_column import cosine_distance
from app.modules.memory import vector_index
from app.modules.memory.models import MemoryEntryRow
from tests.memory.entry_rows import entry_row

pytestmark = pytest.mark.postgres

MODEL = "hashing-64"


async def test_a_user_holding_much_of_the_table_is_walked_one_holding_little_is_scanned(
    postgres_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector_index, "WALK_FROM", 200)  # the table is small
    database = open_module_database("memory", postgres_settings)
    try:
        query = await fill(database)
        for user, walked in (("many", True), ("few", False), ("stranger", False)):
            where = [MemoryEntryRow.user_id == user]
            async with database.read() as tx:
                found = [
                    r.id for r in await vector_index.nearest(tx, query, MODEL, user, where, 10)
                ]
                assert (await tx.scalar(text("SHOW enable_sort")) == "off") == walked, user
                # The same ranking as nearest's, planned under the settings it left.
                plan = "\n".join(
                    await tx.scalars(
                        text(
                            "EXPLAIN SELECT id FROM memory_entries WHERE user_id = :u "
                            "AND model_name = :m ORDER BY embedding::vector(64) <=> "
                            "CAST(:q AS vector(64)) LIMIT 10"
                        ),
                        {"u": user, "m": MODEL, "q": str(query.tolist())},
                    )
                )
                distance = cosine_distance(MemoryEntryRow.embedding, query, "postgresql")
                exact = list(
                    await tx.scalars(
                        select(MemoryEntryRow.id).where(*where).order_by(distance).limit(10)
                    )
                )
                held = await tx.scalar(select(func.count()).where(*where))
            assert ("ix_memory_entries_hnsw" in plan) == walked, plan
            assert len(found) == min(10, held or 0)
            assert len(set(found) & set(exact)) >= 0.9 * len(exact), user
    finally:
        await database.dispose()


async def test_a_users_share_is_read_once_a_while_and_then_anew(
    postgres_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(vector_index, "WALK_FROM", 200)
    monkeypatch.setattr(vector_index, "_SHARES", Recent(8, lambda: clock[0]))
    database = open_module_database("memory", postgres_settings)
    reads: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def record(*args: Any) -> None:
        if "pg_stats" in args[2]:
            reads.append(args[2])

    async def walks(user: str) -> bool:
        where = [MemoryEntryRow.user_id == user]
        async with database.read() as tx:
            found = await vector_index.nearest(tx, query, MODEL, user, where, 10)
            assert found and all(row.id in kept for row in found)  # the user's, either way
            return bool(await tx.scalar(text("SHOW enable_sort")) == "off")

    try:
        query = await fill(database)
        kept = set(await ids_of(database, "many"))
        assert await walks("many") and await walks("many")
        assert len(reads) == 1  # the second recall took the share the first read

        # "many" now holds few: analysed, but the share read stands until FRESH_S is up
        # (it only chooses the way; the rows found are theirs whichever it takes).
        async with database.transaction() as tx:
            gone = sorted(kept)[20:]
            await tx.execute(delete(MemoryEntryRow).where(MemoryEntryRow.id.in_(gone)))
            await tx.execute(text("ANALYZE memory_entries"))
        kept -= set(gone)
        assert await walks("many") and len(reads) == 1
        clock[0] += recent.FRESH_S + 1
        assert not await walks("many") and len(reads) == 2
    finally:
        await database.dispose()


async def fill(database: ModuleDatabase) -> npt.NDArray[np.float32]:
    """600 memories of "many", 20 of "few", 400 of 40 others, analysed; a query vector."""
    rng = np.random.default_rng(11)
    now = datetime.now(UTC)
    owners = ["many"] * 600 + ["few"] * 20 + [f"other{i % 40}" for i in range(400)]
    vectors = rng.normal(size=(len(owners), 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    async with database.transaction() as tx:
        await tx.execute(
            insert(MemoryEntryRow),
            [
                entry_row(uuid.uuid4(), owner, vector, MODEL, now)
                for owner, vector in zip(owners, vectors, strict=True)
            ],
        )
        await vector_index.ensure(tx, MODEL, 64)
        await tx.execute(text("ANALYZE memory_entries"))
    query: npt.NDArray[np.float32] = vectors[3]
    return query


async def ids_of(database: ModuleDatabase, user: str) -> list[uuid.UUID]:
    async with database.read() as tx:
        return list(
            await tx.scalars(select(MemoryEntryRow.id).where(MemoryEntryRow.user_id == user))
        )
