"""RAG at scale: ingest throughput, search latency per mode, vector-index recall.

For each size (BENCH_RAG_SIZES, default 10000,100000 chunks) on SQLite (sqlite-vec,
FTS5) and PostgreSQL 16 with pgvector (the bundled server, HNSW + GIN):
  ingest     chunks/s through RagAPI.ingest, 100 one-chunk documents per call
  search     p50/p95 per mode over the docstrings set's 130 real questions (k = 10)
  recall@10  the vector index's top 10 against an exact scan of the same vectors
The corpus is bench/realistic_corpus.py: real model vectors of a few thousand chunks,
perturbed to reach the size, replayed at ingest (so ingest measures the indexes, not the
model). The default model's own throughput is printed first, as the baseline ingest
cannot beat, and each ingest rate is given as a ratio to it.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import text

from app.kernel import migrations
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.embedding import DEFAULT_MODEL, create_embedder
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.rag import vector_index  # the benchmark compares the index to exact search
from app.modules.rag.service import RagService
from bench.pgvector_database import pgvector_database
from bench.realistic_corpus import RealisticCorpus, ReplayEmbedder, realistic_corpus
from bench.retrieval_quality import load_corpus
from bench.sizes import size
from contracts.rag import DocumentCreate, RagAPI, SearchFilters, SearchMode, SearchRequest
from tests.pgvector_server import PgvectorServer

SIZES = [int(n) for n in size("BENCH_RAG_SIZES", "10000,100000", "300").split(",")]
BASE_CHUNKS = int(size("BENCH_RAG_BASE", "1400", "100"))
QUERIES = int(size("BENCH_RAG_QUERIES", "130", "10"))
MODES: tuple[SearchMode, ...] = ("lexical", "vector", "hybrid")
NO_FILTERS = SearchFilters()


@dataclass
class Row:
    backend: str
    chunks: int
    ingest_per_s: float
    p50: dict[str, float]
    p95: dict[str, float]
    recall_at_10: float


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[94]


async def model_throughput() -> float:
    texts = [d.text[:800] for d in load_corpus()[:256]]
    embedder = create_embedder(DEFAULT_MODEL, Settings())
    await embedder.embed(texts[:8])  # load the model first
    started = time.perf_counter()
    await embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


async def measure(backend: str, settings: Settings, corpus: RealisticCorpus) -> Row:
    await migrations.upgrade_modules([REGISTRY["rag"]], settings)
    database = open_module_database("rag", settings)
    rag: RagAPI = RagService(database, settings, {DEFAULT_MODEL: ReplayEmbedder(corpus)})
    try:
        documents = [
            DocumentCreate(source=f"realistic/{i}", text=text, metadata={"shard": i % 10})
            for i, text in enumerate(corpus.texts)
        ]
        started = time.perf_counter()
        for start in range(0, len(documents), 100):
            await rag.ingest(documents=documents[start : start + 100])
        ingest_rate = len(documents) / (time.perf_counter() - started)
        async with database.transaction() as tx:  # as autovacuum would after a bulk load
            await tx.execute(text("ANALYZE"))
        queries = corpus.queries[:QUERIES]
        p50: dict[str, float] = {}
        p95: dict[str, float] = {}
        for mode in MODES:
            latencies = []
            for query in queries:
                t0 = time.perf_counter()
                await rag.search(request=SearchRequest(query=query, mode=mode, k=10))
                latencies.append((time.perf_counter() - t0) * 1000)
            p50[mode], p95[mode] = percentiles(latencies)
        recall = await index_recall(database, corpus)
    finally:
        await database.dispose()
    return Row(backend, len(documents), ingest_rate, p50, p95, recall)


async def index_recall(database: ModuleDatabase, corpus: RealisticCorpus) -> float:
    overlap = 0
    vectors = corpus.query_vectors[:QUERIES]
    async with database.read() as tx:
        for vector in vectors:
            ann = await vector_index.search(tx, DEFAULT_MODEL, vector, 10, NO_FILTERS)
            exact = await vector_index.exact_search(tx, DEFAULT_MODEL, vector, 10, NO_FILTERS)
            overlap += len({d for d, _ in ann} & {d for d, _ in exact})
    return overlap / (10 * len(vectors))


def render(rows: list[Row], baseline: float) -> str:
    header = (
        f"{'backend':<9}{'chunks':>8}{'ingest/s':>10}{'x model':>9}"
        + "".join(f"{m + ' p50/p95 ms':>22}" for m in MODES)
        + f"{'recall@10':>11}"
    )
    lines = [f"default model ({DEFAULT_MODEL}) embeds {baseline:.0f} chunks/s", header]
    for r in rows:
        lines.append(
            f"{r.backend:<9}{r.chunks:>8}{r.ingest_per_s:>10.0f}{r.ingest_per_s / baseline:>8.1f}x"
            + "".join(f"{f'{r.p50[m]:.1f} / {r.p95[m]:.1f}':>22}" for m in MODES)
            + f"{r.recall_at_10:>11.3f}"
        )
    return "\n".join(lines)


async def main() -> None:
    baseline = await model_throughput()
    rows: list[Row] = []
    server = PgvectorServer().start()
    try:
        for chunks in SIZES:
            corpus = await realistic_corpus(chunks, min(BASE_CHUNKS, chunks))
            with tempfile.TemporaryDirectory() as data_dir:
                base = Settings(data_dir=Path(data_dir), embedding_model=DEFAULT_MODEL)
                rows.append(await measure("sqlite", base, corpus))
                async with pgvector_database(server, "rag", Path(data_dir)) as urls:
                    pg = replace(base, database_urls=urls)
                    rows.append(await measure("postgres", pg, corpus))
            print(render(rows, baseline), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
