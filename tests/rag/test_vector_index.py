"""RAG's nearest chunks by meaning against an exact scan of every chunk: the sign-bit
index on SQLite (its candidates ranked by exact distance) and HNSW on PostgreSQL find
what the scan finds, built at ingest or by the module's seed over chunks stored before
it existed (in place of the unsharded table an earlier version kept, with its chunks
indexed by shard), and a model whose vectors cannot be packed in bits is scanned
exactly."""

from dataclasses import replace

import numpy as np
from sqlalchemy import text

from app.kernel.database import open_module_database
from app.kernel.embedding import create_embedder
from app.kernel.settings import Settings
from app.modules.rag import vector_index
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, SearchFilters

NO_FILTERS = SearchFilters()
WORDS = "harbour lantern copper meadow violin glacier pepper orbit canyon quartz".split()


def _documents(count: int) -> list[DocumentCreate]:
    rng = np.random.default_rng(3)
    return [
        DocumentCreate(source=f"doc/{i}", text=" ".join(rng.choice(WORDS, size=6)) + f" {i}")
        for i in range(count)
    ]


async def test_the_index_finds_what_an_exact_scan_finds(settings: Settings) -> None:
    database = open_module_database("rag", settings)
    service = RagService(database, settings)
    embedder = create_embedder(settings.embedding_model, settings)  # fast hashing
    try:
        documents = _documents(400)  # more than the bits' candidates: they must choose
        await service.ingest(documents=documents)
        earlier = f"{vector_index._table(settings.embedding_model).removesuffix('_shards')}_bits"
        if database.dialect == "sqlite":  # as stored by the version before the shards
            async with database.transaction() as tx:
                await tx.execute(
                    text(f"DROP TABLE {vector_index._table(settings.embedding_model)}")
                )
                dimensions = len((await embedder.embed(["x"]))[0])
                await tx.execute(
                    text(
                        f"CREATE VIRTUAL TABLE {earlier} USING vec0("
                        f"embedding_id integer primary key, embedding bit[{dimensions}])"
                    )
                )
        async with database.read() as tx:  # no index yet: the exact scan answers
            query = (await embedder.embed([documents[7].text]))[0]
            unindexed = await vector_index.search(
                tx, settings.embedding_model, query, 10, NO_FILTERS
            )
            exact = await vector_index.exact_search(
                tx, settings.embedding_model, query, 10, NO_FILTERS
            )
        assert unindexed == exact
        await vector_index.build_for_settings(database, settings)  # `bulkhead db upgrade`
        if database.dialect == "sqlite":  # the earlier table gave way to one of every chunk
            table = vector_index._table(settings.embedding_model)
            async with database.read() as tx:
                tables = set(
                    await tx.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
                )
                indexes = set(
                    await tx.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
                )
                indexed = await tx.scalar(text(f"SELECT count(*) FROM {table}"))
            assert earlier not in tables and indexed == len(documents)
            assert f"{table}_chunks_by_partition" in indexes  # its chunks found by shard
        overlap = 0
        async with database.read() as tx:
            for document in documents[:20]:
                query = (await embedder.embed([document.text]))[0]
                found = await vector_index.search(
                    tx, settings.embedding_model, query, 10, NO_FILTERS
                )
                exact = await vector_index.exact_search(
                    tx, settings.embedding_model, query, 10, NO_FILTERS
                )
                assert found[0][1] > 0.999  # the chunk itself, at its exact similarity
                assert found == sorted(found, key=lambda hit: (-hit[1], str(hit[0])))
                overlap += len({d for d, _ in found} & {d for d, _ in exact})
        assert overlap >= 0.9 * 20 * 10
    finally:
        await database.dispose()


async def test_vectors_that_do_not_pack_in_bytes_are_scanned_exactly(settings: Settings) -> None:
    odd = replace(settings, embedding_model="hashing-60")
    database = open_module_database("rag", odd)
    service = RagService(database, odd)
    try:
        documents = _documents(30)
        await service.ingest(documents=documents)
        query = (await create_embedder("hashing-60", odd).embed([documents[3].text]))[0]
        async with database.read() as tx:
            found = await vector_index.search(tx, "hashing-60", query, 5, NO_FILTERS)
            exact = await vector_index.exact_search(tx, "hashing-60", query, 5, NO_FILTERS)
        assert found == exact and found[0][1] > 0.999
    finally:
        await database.dispose()
