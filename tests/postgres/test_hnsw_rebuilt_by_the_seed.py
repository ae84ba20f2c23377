"""Memory's and RAG's HNSW indexes are built with `ef_construction = 128`; one an earlier
version built with pgvector's defaults is built again by the module's seed (`bulkhead db
upgrade`), the same index but for its options, under the same name, and the seed that
follows leaves it as it is. A search finds the same before and after."""

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.hnsw_index import OPTIONS
from app.kernel.settings import Settings
from app.modules.memory import vector_index as memory_index
from app.modules.memory.service import MemoryService
from app.modules.memory.sign_bit_index import model_slug as memory_model_slug
from app.modules.rag import vector_index as rag_index
from app.modules.rag.service import RagService
from contracts.memory import MemoryEntryCreate, RecallQuery
from contracts.rag import DocumentCreate, SearchRequest
from tests.fakes.conversation import FakeConversation

pytestmark = pytest.mark.postgres

Seed = Callable[[ModuleDatabase, Settings], Awaitable[None]]


async def the_index(database: ModuleDatabase, name: str) -> tuple[int, str, bool] | None:
    """Its oid, definition and whether it is valid; None if there is none."""
    async with database.read() as tx:
        found = (
            await tx.execute(
                text(
                    "SELECT i.indexrelid::int, pg_get_indexdef(i.indexrelid), i.indisvalid "
                    "FROM pg_index i WHERE i.indexrelid = to_regclass(:n)"
                ),
                {"n": name},
            )
        ).first()
    return None if found is None else (found[0], found[1], found[2])


async def built_as_before(database: ModuleDatabase, name: str, table: str, column: str) -> str:
    """Replace the index with one as the versions before built it; its definition."""
    model = "hashing-256"
    async with database.transaction() as tx:
        await tx.execute(text(f"DROP INDEX IF EXISTS {name}"))
        await tx.execute(
            text(
                f"CREATE INDEX {name} ON {table} USING hnsw (({column}::vector(256)) "
                f"vector_cosine_ops) WHERE model_name = '{model}'"
            )
        )
    earlier = await the_index(database, name)
    assert earlier is not None and "ef_construction" not in earlier[1]
    return earlier[1]


async def rebuilt_once(database: ModuleDatabase, settings: Settings, name: str, seed: Seed) -> None:
    before = await the_index(database, name)
    assert before is not None
    await seed(database, settings)
    after = await the_index(database, name)
    assert after is not None and after[2]  # valid, under the same name
    assert after[0] != before[0]  # built again
    # The same index but for its options.
    assert after[1].replace(" WITH (ef_construction='128')", "") == before[1]
    assert f"{OPTIONS.replace('=', '=' + chr(39))}'" in after[1]
    async with database.read() as tx:
        left = await tx.scalar(text("SELECT count(*) FROM pg_class WHERE relname LIKE '%rebuilt'"))
    assert left == 0
    await seed(database, settings)
    assert await the_index(database, name) == after  # built as it should be: left alone


async def test_memorys_index_is_rebuilt_with_wider_construction(
    postgres_settings: Settings,
) -> None:
    database = open_module_database("memory", postgres_settings)
    memory = MemoryService(database, postgres_settings, conversation=FakeConversation().as_api())
    name = f"ix_memory_entries_hnsw_{memory_model_slug(postgres_settings.embedding_model)}"
    try:
        for i in range(20):
            content = f"Ada's hive {i} swarmed" if i % 5 else f"Ada's kiln {i} cracked"
            await memory.add(user_id="ada", entry=MemoryEntryCreate(content=content))
        query = RecallQuery(query="kiln cracked", limit=4)
        expected = [r.entry.id for r in (await memory.recall(user_id="ada", query=query)).items]
        await built_as_before(database, name, "memory_entries", "embedding")
        await rebuilt_once(database, postgres_settings, name, memory_index.build_for_settings)
        found = [r.entry.id for r in (await memory.recall(user_id="ada", query=query)).items]
        assert found == expected
    finally:
        await memory.close()
        await database.dispose()


async def test_rags_index_is_rebuilt_with_wider_construction(postgres_settings: Settings) -> None:
    database = open_module_database("rag", postgres_settings)
    rag = RagService(database, postgres_settings)
    name = f"ix_embeddings_hnsw_{rag_index._slug(postgres_settings.embedding_model)}"
    try:
        await rag.ingest(
            documents=[
                DocumentCreate(source=f"kilns/{i}", text=f"Kiln {i} cracked in the {i}th firing.")
                for i in range(20)
            ]
        )
        fresh = await the_index(database, name)  # built by the first ingest, as it is now
        assert fresh is not None and "ef_construction='128'" in fresh[1]
        request = SearchRequest(query="kiln cracked firing", mode="vector")
        expected = [hit.document_id for hit in (await rag.search(request=request)).hits]
        await built_as_before(database, name, "embeddings", "vector")
        await rebuilt_once(database, postgres_settings, name, rag_index.build_for_settings)
        assert [hit.document_id for hit in (await rag.search(request=request)).hits] == expected
    finally:
        await database.dispose()
