"""Memory at scale: recall latency, and working memory on Redis vs in the process.

Recall: for each size N (BENCH_MEMORY_SIZES, default 10000,100000) one user holds N
memories and 99 others hold N more between them; 100 recalls of that user's through
MemoryAPI.recall (embed the query, nearest by meaning (HNSW walked with the user's filter
on PostgreSQL, the user's vec0 partitions of sign bits rescored exactly on SQLite) and by
words, at once; score, touch, log), on SQLite and on PostgreSQL 16 with pgvector (the
bundled server). Rows are written straight into the tables, WRITE_BATCH to a transaction
as users write them, so the indexes are as a live deployment's are (SQLite's word index
in the segments such writes leave), with texts and vectors of bench/realistic_corpus.py
(real model vectors perturbed to reach N) and the set's real questions as queries: the
cost of finding and scoring candidates is what is measured.

PostgreSQL is measured twice over the same rows: as its server starts (shared_buffers
of 128 MB, an eighth of the database at 100k), and restarted with shared_buffers as big
as the database, as a deployment sizes it ("pg-sized"), after a pass of the questions.

recall@10: the candidates by meaning against an exact scan of the same vectors, on both
backends. words r@5: recall@5 of the docstrings set's sources (the texts' originals, one
hit per source) by the word search alone over the user's memories, as it searches and,
in brackets, with every matching row scored in one stage: the two stages on either
backend are an approximation, and this is what they cost.

Working memory: p50 of 500 writes and 500 reads through MemoryAPI (ownership check in the
module's database, then the store), in-process vs Redis at 127.0.0.1:6379; ratio to
in-process.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import redis as redis_sync
from sqlalchemy import insert, select, text

from app.kernel import fts5_search, migrations, postgres_bm25
from app.kernel.database import dialect_of, open_module_database
from app.kernel.embedding import DEFAULT_MODEL
from app.kernel.read_along import ReadAlong
from app.kernel.settings import Settings
from app.kernel.vector_column import cosine_distance
from app.main import REGISTRY
from app.modules.memory import (  # bulk loading writes what the service writes
    vector_index,
    word_index,
)
from app.modules.memory.entries import content_hash
from app.modules.memory.models import MemoryEntryRow
from app.modules.memory.service import MemoryService
from bench.pgvector_database import pgvector_database
from bench.realistic_corpus import RealisticCorpus, realistic_corpus
from bench.retrieval_quality import judge, load_set
from bench.sizes import size
from contracts.memory import RecallQuery, WorkingMemoryItemCreate
from tests.fakes.conversation import FakeConversation
from tests.pgvector_server import PgvectorServer

SIZES = [int(n) for n in size("BENCH_MEMORY_SIZES", "10000,100000", "200").split(",")]
RECALLS = int(size("BENCH_MEMORY_RECALLS", "100", "10"))
WORKING_OPS = int(size("BENCH_MEMORY_WORKING_OPS", "500", "20"))
REDIS_URL = os.environ.get("BULKHEAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CATEGORIES = ["fact", "preference", "goal", "event", "instruction", "other"]
BASE = int(size("BENCH_MEMORY_BASE", "1400", "100"))  # real texts the corpus is made from
WRITE_BATCH = 50  # memories a transaction when loading
ONE_STAGE = 10**9  # a word-search budget above any table here: every match scored


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def load(settings: Settings, corpus: RealisticCorpus) -> None:
    """N memories for `target`, N more spread over 99 others."""
    rng = random.Random(len(corpus.texts))
    size = len(corpus.texts) // 2
    database = open_module_database("memory", settings)
    now = datetime.now(UTC)
    try:
        for half, owner_share in enumerate((("target",), tuple(f"user{i}" for i in range(99)))):
            for start in range(half * size, (half + 1) * size, WRITE_BATCH):
                texts = corpus.texts[start : min(start + WRITE_BATCH, (half + 1) * size)]
                vectors = corpus.vectors[start : start + len(texts)]
                rows = []
                for i, (body, vector) in enumerate(zip(texts, vectors, strict=True)):
                    row_id = uuid.uuid4()
                    rows.append(
                        MemoryEntryRow(
                            id=row_id,
                            root_id=row_id,
                            user_id=owner_share[(start + i) % len(owner_share)],
                            content=f"{body} #{start + i}",
                            category=CATEGORIES[i % len(CATEGORIES)],
                            importance=rng.random(),
                            embedding=vector,
                            model_name=DEFAULT_MODEL,
                            content_hash=content_hash(f"{body} #{start + i}"),
                            source_session_id=None,
                            access_count=0,
                            last_accessed_at=now - timedelta(days=rng.randint(0, 365)),
                            valid_from=now,
                            valid_to=None,
                            superseded_by=None,
                            created_at=now,
                        )
                    )
                async with database.transaction() as tx:
                    await tx.execute(
                        insert(MemoryEntryRow),
                        [
                            {
                                c.key: getattr(r, c.key)
                                for c in MemoryEntryRow.__mapper__.column_attrs
                            }
                            for r in rows
                        ],
                    )
                    await word_index.add(tx, rows)
                    await vector_index.add(tx, rows)
        await vector_index.build_for_settings(database, settings)  # as `db upgrade` would
        async with database.transaction() as tx:  # as autovacuum would after a load
            await tx.execute(text("ANALYZE"))
    finally:
        await database.dispose()


async def candidate_recall(settings: Settings, corpus: RealisticCorpus) -> float:
    """The index's 10 nearest of the target's memories against an exact scan's."""
    database = open_module_database("memory", settings)
    overlap = 0
    vectors = corpus.query_vectors[:RECALLS]
    where = [MemoryEntryRow.user_id == "target"]
    try:
        async with database.read() as tx:
            for vector in vectors:
                nearest = await vector_index.nearest(tx, vector, DEFAULT_MODEL, "target", where, 10)
                found = [row.id for row in nearest]
                distance = cosine_distance(MemoryEntryRow.embedding, vector, dialect_of(tx))
                exact = await tx.scalars(
                    select(MemoryEntryRow.id).where(*where).order_by(distance).limit(10)
                )
                overlap += len(set(found) & set(exact))
    finally:
        await database.dispose()
    return overlap / (10 * len(vectors))


async def word_quality(settings: Settings) -> tuple[float, float]:
    """Recall@5 of the relevant sources by the target's word search, as it searches
    and in one stage (no budget)."""
    labelled = load_set("docstrings")
    sources = [d.source for d in labelled.documents[:BASE]]
    database = open_module_database("memory", settings)
    found: list[float] = []
    content = ReadAlong((MemoryEntryRow.content,))
    try:
        budgets = fts5_search if database.dialect == "sqlite" else postgres_bm25
        for budget in (budgets.POSTINGS_BUDGET, ONE_STAGE):
            total = 0.0
            with patch.object(budgets, "POSTINGS_BUDGET", budget):
                for question in labelled.queries:
                    async with database.read() as tx:
                        hits = await word_index.search(
                            tx, "target", question.query, [], 50, along=content
                        )
                    # Each text ends with its place in the corpus (`load`): `... #1234`.
                    ranked = [
                        sources[int(row.content.rsplit("#", 1)[1]) % len(sources)]
                        for row, _ in hits
                    ]
                    total += judge(list(dict.fromkeys(ranked)), question.relevant)[0]
            found.append(total / len(labelled.queries))
    finally:
        await database.dispose()
    return found[0], found[1]


async def recall_latencies(settings: Settings, queries: list[str]) -> list[float]:
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=FakeConversation().as_api())
    # What a server worker holds when its first request comes: everything made before it
    # frozen, out of the collector's walks (app/startup.py). Unfrozen, the walks of this
    # process's imports landed in the recalls' tail (SQLite at 100k, p95 by turns: 67 ->
    # 58 ms; p50 and PostgreSQL unchanged).
    gc.freeze()
    try:
        await service.recall(user_id="target", query=RecallQuery(query=queries[0]))  # warm up
        latencies = []
        for query in queries:
            started = time.perf_counter()
            result = await service.recall(user_id="target", query=RecallQuery(query=query))
            latencies.append((time.perf_counter() - started) * 1000)
            assert result.items and all(r.entry.user_id == "target" for r in result.items)
        return latencies
    finally:
        await service.close()
        await database.dispose()


async def recall_table() -> None:
    print(f"\nMemory recall: one user's N memories among 100 users, {RECALLS} recalls, k = 10")
    print(
        f"{'backend':<9} {'N':>7} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10} "
        f"{'words r@5 (one stage)':>22}"
    )
    server = PgvectorServer().start()
    try:
        for size in SIZES:
            corpus = await realistic_corpus(2 * size, BASE)
            queries = corpus.queries[:RECALLS]
            with tempfile.TemporaryDirectory() as data_dir:
                sqlite = Settings(data_dir=Path(data_dir), embedding_model=DEFAULT_MODEL)
                await migrations.upgrade_modules([REGISTRY["memory"]], sqlite)
                await load(sqlite, corpus)
                _row(
                    "sqlite",
                    size,
                    await recall_latencies(sqlite, queries),
                    await candidate_recall(sqlite, corpus),
                    await word_quality(sqlite),
                )
                async with pgvector_database(server, "memory", Path(data_dir)) as urls:
                    pg = replace(sqlite, database_urls=urls)
                    await migrations.upgrade_modules([REGISTRY["memory"]], pg)
                    await load(pg, corpus)
                    latencies = await recall_latencies(pg, queries)
                    recall = await candidate_recall(pg, corpus)
                    words = await word_quality(pg)
                    _row("postgres", size, latencies, recall, words)
                    buffers = await _sized_buffers_mb(pg)
                    server.restart(shared_buffers=f"{buffers}MB")
                    await recall_latencies(pg, corpus.queries)  # a server in use holds them
                    _row("pg-sized", size, await recall_latencies(pg, queries), recall, words)
                    server.restart()
        print(
            "pg-sized: the same database, its server restarted with shared_buffers the size "
            "of the database (the default, above, is 128 MB), after one pass of every question"
        )
    finally:
        server.stop()


async def _sized_buffers_mb(settings: Settings) -> int:
    """The module database's size in MB, at least PostgreSQL's default 128: what a
    deployment gives shared_buffers for its working set to stay in memory."""
    database = open_module_database("memory", settings)
    try:
        async with database.read() as tx:
            size = await tx.scalar(text("SELECT pg_database_size(current_database())"))
    finally:
        await database.dispose()
    return max(128, -(-int(size or 0) // 2**20))


def _row(
    backend: str,
    size: int,
    latencies: list[float],
    recall: float,
    words: tuple[float, float],
) -> None:
    print(
        f"{backend:<9} {size:>7} {statistics.median(latencies):>8.2f} "
        f"{percentile(latencies, 95):>8.2f} {recall:>10.3f} "
        f"{f'{words[0]:.3f} ({words[1]:.3f})':>22}",
        flush=True,
    )


async def working_memory_p50(settings: Settings) -> tuple[float, float]:
    conversation = FakeConversation()
    database = open_module_database("memory", settings)
    service = MemoryService(database, settings, conversation=conversation.as_api())
    session = conversation.open_session("alice")
    item = WorkingMemoryItemCreate(kind="turn", role="user", content="what's on today?")
    try:
        await service.remember_in_session(session_id=session, user_id="alice", item=item)
        writes, reads = [], []
        for _ in range(WORKING_OPS):
            started = time.perf_counter()
            await service.remember_in_session(session_id=session, user_id="alice", item=item)
            writes.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await service.working_memory(session_id=session, user_id="alice")
            reads.append((time.perf_counter() - started) * 1000)
        return statistics.median(writes), statistics.median(reads)
    finally:
        await service.close()
        await database.dispose()


async def working_memory_table() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        base = Settings(data_dir=Path(data_dir), embedding_model=DEFAULT_MODEL)
        await migrations.upgrade_modules([REGISTRY["memory"]], base)
        rows = {"in-process": await working_memory_p50(base)}
        prefix = f"bhbench-{secrets.token_hex(4)}"
        try:
            redis_sync.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
            redis = replace(base, redis_url=REDIS_URL, redis_key_prefix=prefix)
            rows["redis"] = await working_memory_p50(redis)
        except redis_sync.RedisError as exc:
            print(f"working memory on Redis: skipped ({type(exc).__name__} at {REDIS_URL})")
        finally:
            client = redis_sync.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
    base_write, base_read = rows["in-process"]
    print(f"\nWorking memory through MemoryAPI (SQLite ownership check), {WORKING_OPS} ops each")
    print(f"{'store':<11} {'write p50 ms':>13} {'read p50 ms':>12} {'write vs':>9} {'read vs':>8}")
    for store, (write, read) in rows.items():
        print(
            f"{store:<11} {write:>13.3f} {read:>12.3f} {write / base_write:>8.2f}x "
            f"{read / base_read:>7.2f}x"
        )


async def main() -> None:
    await working_memory_table()
    await recall_table()


if __name__ == "__main__":
    asyncio.run(main())
