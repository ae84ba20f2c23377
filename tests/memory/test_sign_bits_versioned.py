"""A model's sign-bit index built before partitions had versions: the upgrade gives each
indexed user a version of their own (random, so none is one a process could hold from
before), searches then find what the index holds, and a downgrade takes the column away."""

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from alembic import command
from sqlalchemy import insert, text

from app.kernel import migrations
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.module import Module
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.memory import sign_bit_index, vector_index
from app.modules.memory.models import MemoryEntryRow
from tests.memory.entry_rows import entry_row

BEFORE = "f2c4e6a8b0d1"  # the last revision whose users' tables had no versions
MODEL = "hashing-64"
USERS = ["ada", "bo"]


async def test_indexed_users_get_versions_and_are_searched_then_lose_them(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign_bit_index, "INDEX_FROM", 5)
    module = REGISTRY["memory"]
    database = open_module_database("memory", sqlite_settings)
    users_table = sign_bit_index.users_table_name(MODEL)
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(20, 64)).astype(np.float32)
    now = datetime.now(UTC)
    try:
        await migrations.upgrade(module, database, BEFORE)
        async with database.transaction() as tx:  # the index as the seed made it, unversioned
            rows = [
                entry_row(uuid.uuid4(), USERS[i % 2], vector, MODEL, now)
                for i, vector in enumerate(vectors)
            ]
            await tx.execute(insert(MemoryEntryRow), rows)
            await vector_index.ensure(tx, MODEL, 64)
            await tx.execute(text(f"ALTER TABLE {users_table} DROP COLUMN version"))
        await migrations.upgrade(module, database)

        versions = await _versions(database, users_table)
        assert sorted(versions) == USERS and 0 not in versions.values()
        async with database.read() as tx:
            found = await vector_index.nearest(
                tx, vectors[3], MODEL, "bo", [MemoryEntryRow.user_id == "bo"], 3
            )
        assert found[0].id == rows[3]["id"]

        await _downgrade(database, module)
        async with database.read() as tx:
            columns = [r[1] for r in await tx.execute(text(f"PRAGMA table_info({users_table})"))]
        assert columns == ["user_id"]
    finally:
        await database.dispose()


async def _versions(database: ModuleDatabase, users_table: str) -> dict[str, int]:
    async with database.read() as tx:
        found = await tx.execute(text(f"SELECT user_id, version FROM {users_table}"))
        return {user: int(version) for user, version in found}


async def _downgrade(database: ModuleDatabase, module: Module) -> None:
    async with database.engine.connect() as conn:
        await conn.run_sync(
            lambda sync: command.downgrade(migrations.alembic_config(module, sync), BEFORE)
        )
        await conn.commit()
