"""SQLite's index of memories' words keeps no copy of their text: memories indexed before
the migration that dropped it are found by the same words, for their owner only, after
it, and a downgrade puts the text back from the entries themselves."""

import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert, text

from app.kernel import migrations
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.full_text import owner_token
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.memory import word_index
from app.modules.memory.models import MemoryEntryRow

BEFORE = "6d1f0b9e4a27"  # the last revision whose index kept the text
TEXTS = {"ada": "Ada keeps bees behind the orchard", "bo": "Bo keeps bees on the roof"}


async def test_indexed_words_survive_the_migration_and_the_text_is_gone(
    sqlite_settings: Settings,
) -> None:
    module = REGISTRY["memory"]
    database = open_module_database("memory", sqlite_settings)
    try:
        await migrations.upgrade(module, database, BEFORE)
        ids = await _remember_as_before(database)
        await migrations.upgrade(module, database)

        for owner in TEXTS:
            async with database.read() as tx:
                found = await word_index.search(tx, owner, "who keeps bees", [], 10)
            assert [row.id for row, _ in found] == [ids[owner]]
        async with database.read() as tx:
            kept = (
                await tx.execute(text("SELECT entry_id, content FROM memory_entries_fts"))
            ).all()
        assert sorted(kept) == sorted((ids[o].hex, None) for o in TEXTS)

        async with database.engine.connect() as conn:
            await conn.run_sync(
                lambda sync: command.downgrade(migrations.alembic_config(module, sync), BEFORE)
            )
            await conn.commit()
        async with database.read() as tx:
            restored = (
                await tx.execute(text("SELECT entry_id, owner, content FROM memory_entries_fts"))
            ).all()
        assert sorted(restored) == sorted(
            (ids[o].hex, owner_token(o, "sqlite"), TEXTS[o]) for o in TEXTS
        )
    finally:
        await database.dispose()


async def _remember_as_before(database: ModuleDatabase) -> dict[str, uuid.UUID]:
    """Entries and their words as the version before the migration wrote them."""
    now = datetime.now(UTC)
    ids = {owner: uuid.uuid4() for owner in TEXTS}
    async with database.transaction() as tx:
        for owner, entry_id in ids.items():
            await tx.execute(
                insert(MemoryEntryRow).values(
                    id=entry_id,
                    root_id=entry_id,
                    user_id=owner,
                    content=TEXTS[owner],
                    category="fact",
                    importance=0.5,
                    embedding=[1.0, 0.0],
                    model_name="hashing-2",
                    content_hash=entry_id.hex,
                    access_count=0,
                    last_accessed_at=now,
                    valid_from=now,
                    created_at=now,
                )
            )
            await tx.execute(
                text(
                    "INSERT INTO memory_entries_fts (entry_id, owner, content) "
                    "VALUES (:id, :owner, :content)"
                ),
                {
                    "id": entry_id.hex,
                    "owner": owner_token(owner, "sqlite"),
                    "content": TEXTS[owner],
                },
            )
    return ids
