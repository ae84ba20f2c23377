"""SQLite's index of memories' words numbers each owner's entries in a range of rowids:
entries indexed before, each with a stored copy of its owner's token, are renumbered by
owner at the upgrade and found by their owner only; entries added after continue their
owner's range, a new owner gets a range of its own; a downgrade puts the tokens back."""

import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert, text

from app.kernel import migrations
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.fts5_search import OWNER_SHIFT
from app.kernel.full_text import owner_token
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.memory import word_index
from app.modules.memory.models import MemoryEntryRow

BEFORE = "c4e6f8a0b2d3"  # the last revision whose index kept each row's owner token
OWNERS = ["ada", "bo", "cy"]


async def test_entries_are_renumbered_by_owner_found_by_their_owner_and_put_back(
    sqlite_settings: Settings,
) -> None:
    module = REGISTRY["memory"]
    database = open_module_database("memory", sqlite_settings)
    try:
        await migrations.upgrade(module, database, BEFORE)
        # Interleaved, as users write: ada, bo, cy, ada, bo, cy, ...
        written = [(OWNERS[i % 3], uuid.uuid4()) for i in range(9)]
        await _remember_as_before(database, written)
        await migrations.upgrade(module, database)

        slots = await _slots(database)
        assert sorted(slots) == sorted(owner_token(o, "sqlite") for o in OWNERS)
        for owner in OWNERS:
            slot = slots[owner_token(owner, "sqlite")]
            assert await _rowids(database, owner, written) == [
                (slot << OWNER_SHIFT) + n for n in range(3)
            ]
            async with database.read() as tx:
                found = await word_index.search(tx, owner, "who keeps bees", [], 10)
            assert sorted(row.id for row, _ in found) == sorted(i for o, i in written if o == owner)

        later = [("bo", uuid.uuid4()), ("dee", uuid.uuid4())]
        await _remember(database, later)
        slots = await _slots(database)
        bo = await _rowids(database, "bo", [*written, *later])
        assert bo[-1] == bo[-2] + 1  # bo's range goes on
        assert await _rowids(database, "dee", later) == [
            slots[owner_token("dee", "sqlite")] << OWNER_SHIFT
        ]
        assert len(set(slots.values())) == 4

        async with database.engine.connect() as conn:
            await conn.run_sync(
                lambda sync: command.downgrade(migrations.alembic_config(module, sync), BEFORE)
            )
            await conn.commit()
        async with database.read() as tx:
            tokens = await tx.execute(text("SELECT entry_id, owner_token FROM memory_entries_fts"))
            kept = {entry_id: token for entry_id, token in tokens}
        assert kept == {i.hex: owner_token(o, "sqlite") for o, i in [*written, *later]}
    finally:
        await database.dispose()


async def _slots(database: ModuleDatabase) -> dict[str, int]:
    async with database.read() as tx:
        found = await tx.execute(text("SELECT owner_token, slot FROM memory_entries_fts_owners"))
        return {token: int(slot) for token, slot in found}


async def _rowids(
    database: ModuleDatabase, owner: str, written: list[tuple[str, uuid.UUID]]
) -> list[int]:
    """The FTS5 rowids of the owner's entries, in the order they were written."""
    async with database.read() as tx:
        found = await tx.execute(text("SELECT entry_id, rowid FROM memory_entries_fts"))
        rowids = {entry_id: int(rowid) for entry_id, rowid in found}
    return [rowids[i.hex] for o, i in written if o == owner]


def _row(owner: str, entry_id: uuid.UUID) -> MemoryEntryRow:
    now = datetime.now(UTC)
    return MemoryEntryRow(
        id=entry_id,
        root_id=entry_id,
        user_id=owner,
        content=f"{owner} keeps bees",
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


async def _remember(database: ModuleDatabase, written: list[tuple[str, uuid.UUID]]) -> None:
    """Entries and their words as the service writes them now."""
    rows = [_row(owner, entry_id) for owner, entry_id in written]
    async with database.transaction() as tx:
        tx.add_all(rows)
        await tx.flush()
        await word_index.add(tx, rows)


async def _remember_as_before(
    database: ModuleDatabase, written: list[tuple[str, uuid.UUID]]
) -> None:
    """Entries and their words as the revision before the upgrade wrote them."""
    async with database.transaction() as tx:
        for owner, entry_id in written:
            row = _row(owner, entry_id)
            await tx.execute(
                insert(MemoryEntryRow).values(
                    {c.key: getattr(row, c.key) for c in MemoryEntryRow.__mapper__.column_attrs}
                )
            )
            token = owner_token(owner, "sqlite")
            await tx.execute(
                text(
                    "INSERT INTO memory_entries_fts (entry_id, owner_token, owner, content) "
                    "VALUES (:id, :token, :token, :content)"
                ),
                {"id": entry_id.hex, "token": token, "content": row.content},
            )
