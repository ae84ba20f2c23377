"""On PostgreSQL, a recall's bookkeeping (each returned memory's touch, the recall's log
row) commits without waiting for the WAL to reach the disk; writing a memory still
waits. Read by triggers, as each row is written, from the setting of the transaction
that writes it (the setting is the transaction's own until it commits)."""

import pytest
from sqlalchemy import text

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryEntryCreate, RecallQuery
from tests.fakes.conversation import FakeConversation

pytestmark = pytest.mark.postgres

WATCH = [
    "CREATE TABLE seen (what text, synchronous_commit text)",
    "CREATE FUNCTION note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO seen VALUES (TG_OP || ' ' || TG_TABLE_NAME, "
    "current_setting('synchronous_commit')); RETURN NULL; END $$",
    "CREATE TRIGGER noted AFTER INSERT OR UPDATE ON memory_entries "
    "FOR EACH ROW EXECUTE FUNCTION note()",
    "CREATE TRIGGER noted AFTER INSERT ON recall_logs FOR EACH ROW EXECUTE FUNCTION note()",
]


async def test_a_recall_commits_its_bookkeeping_without_waiting_and_a_memory_waits(
    postgres_settings: Settings,
) -> None:
    database = open_module_database("memory", postgres_settings)
    service = MemoryService(database, postgres_settings, conversation=FakeConversation().as_api())

    async def seen() -> list[tuple[str, str]]:
        async with database.transaction() as tx:
            found = await tx.execute(text("DELETE FROM seen RETURNING what, synchronous_commit"))
            return sorted((row[0], row[1]) for row in found)

    try:
        async with database.transaction() as tx:
            for statement in WATCH:
                await tx.execute(text(statement))
        await service.add(user_id="ada", entry=MemoryEntryCreate(content="Ada keeps bees"))
        assert await seen() == [("INSERT memory_entries", "on")]
        result = await service.recall(user_id="ada", query=RecallQuery(query="bees"))
        assert [r.entry.content for r in result.items] == ["Ada keeps bees"]
        assert await seen() == [("INSERT recall_logs", "off"), ("UPDATE memory_entries", "off")]
        assert result.items[0].entry.access_count == 0  # as it was when recalled
        [again] = (await service.recall(user_id="ada", query=RecallQuery(query="bees"))).items
        assert again.entry.access_count == 1  # the touch was committed
    finally:
        await service.close()
        await database.dispose()
