"""On PostgreSQL, memory's and RAG's word indexes take each new row straight in: GIN's
pending list, which every search reads whole until a vacuum merges it, stays empty
(`gin_clean_pending_list` returns how many of its pages it merged)."""

import pytest
from sqlalchemy import text

from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.settings import Settings
from app.modules.memory.service import MemoryService
from app.modules.rag.service import RagService
from contracts.memory import MemoryEntryCreate, RecallQuery
from contracts.rag import DocumentCreate, SearchRequest
from tests.fakes.conversation import FakeConversation

pytestmark = pytest.mark.postgres


async def pending_pages(database: ModuleDatabase, index: str) -> int:
    async with database.transaction() as tx:
        merged = await tx.scalar(
            text("SELECT gin_clean_pending_list(CAST(:i AS regclass))"), {"i": index}
        )
    return int(merged or 0)


async def test_memories_added_are_in_the_index_itself(postgres_settings: Settings) -> None:
    database = open_module_database("memory", postgres_settings)
    memory = MemoryService(database, postgres_settings, conversation=FakeConversation().as_api())
    try:
        for i in range(40):
            entry = MemoryEntryCreate(content=f"Alice keeps bees in hive number {i}.")
            await memory.add(user_id="alice", entry=entry)
        assert await pending_pages(database, "ix_memory_entries_content_tsv") == 0
        found = await memory.recall(user_id="alice", query=RecallQuery(query="bees hive"))
        assert len(found.items) == 10
    finally:
        await memory.close()
        await database.dispose()


async def test_chunks_ingested_are_in_the_index_itself(postgres_settings: Settings) -> None:
    database = open_module_database("rag", postgres_settings)
    rag = RagService(database, postgres_settings)
    try:
        await rag.ingest(
            documents=[
                DocumentCreate(source=f"hives/{i}", text=f"Hive {i} swarmed in May.")
                for i in range(40)
            ]
        )
        assert await pending_pages(database, "ix_documents_content_tsv") == 0
        found = await rag.search(request=SearchRequest(query="hive swarmed", mode="lexical"))
        assert len(found.hits) == 5
    finally:
        await database.dispose()
