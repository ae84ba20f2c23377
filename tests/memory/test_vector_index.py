"""Memory's nearest by meaning: the HNSW walk on PostgreSQL and the user's partitions of
sign bits on SQLite find what an exact scan of the user's entries finds (all of it for a
user with no more entries than SQLite takes as candidates, nine in ten for one with
more), for a user with many memories and for one with a few among many of others', with
conditions that only a few of the nearest pass, and after entries are added to and
removed from the index; on SQLite the index is built in place of the unsharded one an
earlier version kept."""

import shutil
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import ColumnElement, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel import sign_bit_partition
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.settings import Settings
from app.kernel.vector_column import cosine_distance
from app.modules.memory import sign_bit_index, vector_index
from app.modules.memory.models import MemoryEntryRow
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryEntryCreate
from tests.fakes.conversation import FakeConversation
from tests.memory.entry_rows import entry_row

MODEL = "hashing-64"


async def test_the_index_walk_matches_an_exact_scan_of_the_users_entries(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign_bit_index, "INDEX_FROM", 100)  # "many" is indexed on SQLite
    database = open_module_database("memory", settings)
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    owners = ["many"] * 300 + ["few"] * 3 + [f"other{i % 20}" for i in range(600)]
    vectors = rng.normal(size=(len(owners), 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    try:
        async with database.transaction() as tx:
            rows = []
            for owner, vector in zip(owners, vectors, strict=True):
                row_id = uuid.UUID(bytes=rng.bytes(16), version=4)  # its shard: fixed
                rows.append(entry_row(row_id, owner, vector, MODEL, now))
            await tx.execute(insert(MemoryEntryRow), rows)
        earlier = sign_bit_index.earlier_table_names(MODEL)[-1]
        if database.dialect == "sqlite":  # as a version before kept its index
            async with database.transaction() as tx:
                await tx.execute(
                    text(
                        f"CREATE VIRTUAL TABLE {earlier} USING vec0(entry_id text primary key, "
                        "user_id text partition key, embedding bit[64])"
                    )
                )
        async with database.transaction() as tx:  # built over the entries already stored
            await vector_index.ensure(tx, MODEL, 64)
            if database.dialect == "postgresql":
                await tx.execute(text("ANALYZE memory_entries"))
            else:  # in place of the earlier table, every entry of those holding many
                tables = set(
                    await tx.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
                )
                assert earlier not in tables
                assert await _indexed(tx) == {"many": 300}
        query = vectors[5]
        for user, k in (("many", 10), ("few", 10)):
            await _matches_exact(database, query, user, [], k)
        # Conditions most of the nearest fail: the index's few are not enough to be sure.
        goals = [r["id"] for r in rows if r["user_id"] == "many"][::25]
        async with database.transaction() as tx:
            await tx.execute(
                update(MemoryEntryRow).where(MemoryEntryRow.id.in_(goals)).values(category="goal")
            )
        await _matches_exact(database, query, "many", [MemoryEntryRow.category == "goal"], 10)

        # Written after the index was built: found; removed: gone.
        query = -vectors[5]  # no stored entry points this way
        twin = MemoryEntryRow(
            **{**rows[0], "id": uuid.uuid4(), "content_hash": "twin", "embedding": query}
        )
        twin.root_id = twin.id
        async with database.transaction() as tx:
            tx.add(twin)
            await tx.flush()
            await vector_index.add(tx, [twin])
        assert (await _matches_exact(database, query, "many", [], 10))[0] == twin.id
        async with database.transaction() as tx:
            await vector_index.remove(tx, [twin.id])
            await tx.execute(delete(MemoryEntryRow).where(MemoryEntryRow.id == twin.id))
        assert twin.id not in await _matches_exact(database, query, "many", [], 10)
    finally:
        await database.dispose()


async def _matches_exact(
    database: ModuleDatabase,
    query: np.ndarray,
    user: str,
    conditions: list[ColumnElement[bool]],
    k: int,
) -> list[uuid.UUID]:
    where = [MemoryEntryRow.user_id == user, *conditions]
    async with database.read() as tx:
        found = [row.id for row in await vector_index.nearest(tx, query, MODEL, user, where, k)]
        distance = cosine_distance(MemoryEntryRow.embedding, query, database.dialect)
        exact = list(
            await tx.scalars(select(MemoryEntryRow.id).where(*where).order_by(distance).limit(k))
        )
        owners_found = set(
            await tx.scalars(select(MemoryEntryRow.user_id).where(MemoryEntryRow.id.in_(found)))
        )
        # Every one of the user's entries is a candidate when they are no more than the
        # candidates by bits; conditions narrow what passes, not the candidates.
        entries = await tx.scalar(select(func.count()).where(MemoryEntryRow.user_id == user)) or 0
    assert owners_found == {user}
    assert len(found) == len(exact)
    if database.dialect == "sqlite" and entries <= sign_bit_index.RESCORED:
        assert found == exact  # every entry is a candidate, ranked by its exact distance
    else:
        assert len(set(found) & set(exact)) >= 0.9 * len(exact), user
    return found


async def test_the_users_chunks_are_found_by_an_index_even_in_a_table_made_before_it(
    sqlite_settings: Settings, migrated_sqlite: Path
) -> None:
    """sqlite-vec looks a partition's chunks up by its partition keys, which its own
    chunks table does not index: every search read every user's chunks."""
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    database = open_module_database("memory", sqlite_settings)
    table = sign_bit_index.table_name(MODEL)

    async def lookup_plan(tx: AsyncSession, shard: int) -> str:
        """The plan of sqlite-vec's lookup of a partition's chunks (the shape its library
        holds); each asked of another shard, as a plan is kept per statement text."""
        plan = await tx.execute(
            text(
                f"EXPLAIN QUERY PLAN SELECT chunk_id, validity, rowids FROM {table}_chunks "
                f"WHERE partition00 = 'many' AND partition01 = {shard}"
            )
        )
        return str(plan.all())

    indexed = f"USING INDEX {table}_chunks_by_partition"
    try:
        async with database.transaction() as tx:
            await vector_index.ensure(tx, MODEL, 64)
            assert indexed in await lookup_plan(tx, 0)
            # A table an earlier version made, without the index: given it on upgrade.
            await tx.execute(text(f"DROP INDEX {table}_chunks_by_partition"))
            assert "USING INDEX" not in await lookup_plan(tx, 1)
            await vector_index.ensure(tx, MODEL, 64)
            assert indexed in await lookup_plan(tx, 2)
    finally:
        await database.dispose()


async def test_a_users_entries_are_indexed_from_when_they_hold_many(
    sqlite_settings: Settings, migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite allocates a partition's chunks whole: a user with a few entries is
    scanned, and gets no chunks, until they hold INDEX_FROM; then all of theirs are in."""
    monkeypatch.setattr(sign_bit_index, "INDEX_FROM", 20)
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    database = open_module_database("memory", sqlite_settings)
    rng = np.random.default_rng(3)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as tx:
            await vector_index.ensure(tx, MODEL, 64)
        for count in range(1, 25):
            vector = rng.normal(size=64).astype(np.float32)
            async with database.transaction() as tx:
                row = MemoryEntryRow(**entry_row(uuid.uuid4(), "grows", vector, MODEL, now))
                tx.add(row)
                await tx.flush()
                await vector_index.add(tx, [row])
                assert await _indexed(tx) == ({"grows": count} if count >= 20 else {})
        found = await _matches_exact(database, vector, "grows", [], 10)
        assert found[0] == row.id
    finally:
        await database.dispose()


async def test_a_deleted_account_leaves_not_even_its_id_in_the_index(
    sqlite_settings: Settings, migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign_bit_index, "INDEX_FROM", 2)
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    model = sqlite_settings.embedding_model
    database = open_module_database("memory", sqlite_settings)
    memory = MemoryService(database, sqlite_settings, conversation=FakeConversation().as_api())
    try:
        await vector_index.build_for_settings(database, sqlite_settings)
        for user, content in (("ada", "zebra one"), ("ada", "zebra two"), ("bob", "zebra")):
            await memory.add(user_id=user, entry=MemoryEntryCreate(content=content))
        users = sign_bit_index.users_table_name(model)
        async with database.read() as tx:
            assert await _indexed(tx, model) == {"ada": 2}  # bob holds fewer than 2
            assert list(await tx.scalars(text(f"SELECT user_id FROM {users}"))) == ["ada"]
        await memory.delete_user(user_id="ada")
        async with database.read() as tx:
            assert await _indexed(tx, model) == {}
            assert list(await tx.scalars(text(f"SELECT user_id FROM {users}"))) == []
    finally:
        await memory.close()
        await database.dispose()


async def _indexed(tx: AsyncSession, model: str = MODEL) -> Counter[str]:
    """How many entries of each user the SQLite index holds."""
    table = sign_bit_index.table_name(model)
    return Counter(
        dict(
            (
                await tx.execute(text(f"SELECT user_id, count(*) FROM {table} GROUP BY user_id"))
            ).all()
        )
    )


async def test_a_users_bits_are_read_again_after_any_write_to_them_and_only_then(
    sqlite_settings: Settings, migrated_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process holds a user's sign bits while their version stands: searches read
    them once; an entry added or removed (by this process or any other: the version is
    in the database), or the account deleted and filled again, has them read anew, so a
    search never misses a new entry or returns a gone one."""
    monkeypatch.setattr(sign_bit_index, "INDEX_FROM", 20)
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    reads: list[int] = []
    read = sign_bit_partition.read

    async def counted(*args: Any) -> sign_bit_partition.PartitionBits:
        held = await read(*args)
        reads.append(len(held.rowids))
        return held

    monkeypatch.setattr(sign_bit_partition, "read", counted)
    database = open_module_database("memory", sqlite_settings)
    rng = np.random.default_rng(5)
    now = datetime.now(UTC)

    async def write(vectors: np.ndarray) -> list[uuid.UUID]:
        async with database.transaction() as tx:
            rows = [
                MemoryEntryRow(**entry_row(uuid.uuid4(), "ada", vector, MODEL, now))
                for vector in vectors
            ]
            tx.add_all(rows)
            await tx.flush()
            await vector_index.add(tx, rows)
        return [row.id for row in rows]

    try:
        async with database.transaction() as tx:
            await vector_index.ensure(tx, MODEL, 64)
        first = await write(rng.normal(size=(30, 64)).astype(np.float32))
        query = rng.normal(size=64).astype(np.float32)
        for _ in range(3):
            await _matches_exact(database, query, "ada", [], 5)
        assert reads == [30]  # read once, held after
        (new,) = await write(query[None, :])
        assert (await _matches_exact(database, query, "ada", [], 5))[0] == new
        assert reads == [30, 31]
        async with database.transaction() as tx:
            await vector_index.remove(tx, [new])
            await tx.execute(delete(MemoryEntryRow).where(MemoryEntryRow.id == new))
        assert new not in await _matches_exact(database, query, "ada", [], 5)
        assert reads == [30, 31, 30]
        async with database.transaction() as tx:  # as `forget_user` deletes an account
            await vector_index.remove(tx, first)
            await tx.execute(delete(MemoryEntryRow).where(MemoryEntryRow.id.in_(first)))
            await vector_index.forget_user(tx, "ada")
        refilled = await write(rng.normal(size=(25, 64)).astype(np.float32))
        found = await _matches_exact(database, query, "ada", [], 5)
        assert set(found) <= set(refilled) and reads == [30, 31, 30, 25]
    finally:
        await database.dispose()
