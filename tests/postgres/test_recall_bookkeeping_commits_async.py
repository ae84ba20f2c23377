"""On PostgreSQL, a recall's bookkeeping (each returned memory's touch, the recall's log
row) commits without waiting for the WAL to reach the disk; writing a memory still
waits. Read at each commit from the transaction's own setting."""

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.service import MemoryService
from contracts.memory import MemoryEntryCreate, RecallQuery
from tests.fakes.conversation import FakeConversation

pytestmark = pytest.mark.postgres


async def test_a_recall_commits_its_bookkeeping_without_waiting_and_a_memory_waits(
    postgres_settings: Settings,
) -> None:
    database = open_module_database("memory", postgres_settings)
    service = MemoryService(database, postgres_settings, conversation=FakeConversation().as_api())
    committed: list[str] = []

    @event.listens_for(database.engine.sync_engine, "commit")
    def record(conn: Connection) -> None:
        committed.append(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())

    try:
        await service.add(user_id="ada", entry=MemoryEntryCreate(content="Ada keeps bees"))
        assert committed and set(committed) == {"on"}
        committed.clear()
        result = await service.recall(user_id="ada", query=RecallQuery(query="bees"))
        assert [r.entry.content for r in result.items] == ["Ada keeps bees"]
        # Its reads' commits write nothing; the one that writes, last, does not wait.
        assert committed[-1] == "off" and committed.count("off") == 1
        assert result.items[0].entry.access_count == 0  # as it was when recalled
        [again] = (await service.recall(user_id="ada", query=RecallQuery(query="bees"))).items
        assert again.entry.access_count == 1  # the touch was committed
    finally:
        await service.close()
        await database.dispose()
