"""RAG at scale: ingest throughput, search latency per mode, vector-index recall.

For each size (BENCH_RAG_SIZES, default 10000,100000 chunks) on SQLite (sqlite-vec,
FTS5) and PostgreSQL 16 with pgvector (the bundled server, HNSW + GIN):
  ingest     chunks/s through RagAPI.ingest, 100 one-chunk documents per call
  search     p50/p95 per mode over 100 queries (k = 10)
  recall@10  the vector index's top 10 against an exact scan of the same vectors
Vectors come from the hashing embedder (`hashing-384`): embedding 100k chunks with the
default model takes over an hour on this CPU, and the index costs are what is measured
here. The default model's own throughput is printed first, as the baseline ingest
cannot beat, and each ingest rate is given as a ratio to it.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.kernel import migrations, provision
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.embedding import DEFAULT_MODEL, create_embedder
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.rag import vector_index  # the benchmark compares the index to exact search
from app.modules.rag.service import RagService
from bench.retrieval_quality import load_corpus
from bench.sizes import size
from contracts.rag import DocumentCreate, RagAPI, SearchFilters, SearchRequest
from tests.pgvector_server import PgvectorServer

SIZES = [int(n) for n in size("BENCH_RAG_SIZES", "10000,100000", "300").split(",")]
MODEL = "hashing-384"
QUERIES = int(size("BENCH_RAG_QUERIES", "100", "10"))
NO_FILTERS = SearchFilters()


@dataclass
class Row:
    backend: str
    chunks: int
    ingest_per_s: float
    p50: dict[str, float]
    p95: dict[str, float]
    recall_at_10: float


TOPICS = 300
TOPIC_SHARE = 0.8  # of a document's words, drawn from its topic's own vocabulary


def topic_vocabularies(vocabulary: list[str]) -> list[list[str]]:
    rng = random.Random(1)
    return [rng.sample(vocabulary, 60) for _ in range(TOPICS)]


def synthetic_text(rng: random.Random, topic: list[str], vocabulary: list[str], words: int) -> str:
    """Words mostly from one topic: documents (and their vectors) cluster by topic, as
    real text and real embeddings do; uniform random words would make every vector
    nearly orthogonal to every other, which no embedding model produces."""
    return " ".join(
        rng.choice(topic) if rng.random() < TOPIC_SHARE else rng.choice(vocabulary)
        for _ in range(words)
    )


def synthetic_documents(count: int, vocabulary: list[str], seed: int) -> list[DocumentCreate]:
    """One-chunk documents of 40-60 real documentation words, each about one topic."""
    rng = random.Random(seed)
    topics = topic_vocabularies(vocabulary)
    return [
        DocumentCreate(
            source=f"synthetic/{i}",
            text=synthetic_text(rng, topics[i % TOPICS], vocabulary, rng.randint(40, 60)) + ".",
            metadata={"shard": i % 10},
        )
        for i in range(count)
    ]


def vocabulary() -> list[str]:
    words = re.findall(r"[a-z]{3,}", " ".join(d.text.lower() for d in load_corpus()))
    return sorted(set(words))


async def model_throughput() -> float:
    texts = [d.text[:800] for d in load_corpus()[:256]]
    embedder = create_embedder(DEFAULT_MODEL, Settings())
    await embedder.embed(texts[:8])  # load the model first
    started = time.perf_counter()
    await embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


async def measure(backend: str, settings: Settings, size: int, words: list[str]) -> Row:
    await migrations.upgrade_modules([REGISTRY["rag"]], settings)
    database = open_module_database("rag", settings)
    rag: RagAPI = RagService(database, settings)
    try:
        documents = synthetic_documents(size, words, seed=size)
        started = time.perf_counter()
        for start in range(0, size, 100):
            await rag.ingest(documents=documents[start : start + 100])
        ingest_rate = size / (time.perf_counter() - started)
        rng = random.Random(7)
        topics = topic_vocabularies(words)
        queries = [synthetic_text(rng, rng.choice(topics), words, 6) for _ in range(QUERIES)]
        p50, p95 = {}, {}
        for mode in ("lexical", "vector", "hybrid"):
            latencies = []
            for query in queries:
                t0 = time.perf_counter()
                await rag.search(request=SearchRequest(query=query, mode=mode, k=10))
                latencies.append((time.perf_counter() - t0) * 1000)
            cuts = statistics.quantiles(latencies, n=100, method="inclusive")
            p50[mode], p95[mode] = cuts[49], cuts[94]
        recall = await index_recall(database, settings, queries)
    finally:
        await database.dispose()
    return Row(backend, size, ingest_rate, p50, p95, recall)


async def index_recall(database: ModuleDatabase, settings: Settings, queries: list[str]) -> float:
    embedder = create_embedder(MODEL, settings)
    vectors = await embedder.embed(queries)
    overlap = 0
    async with database.read() as tx:
        for vector in vectors:
            ann = await vector_index.search(tx, MODEL, vector, 10, NO_FILTERS)
            exact = await vector_index.exact_search(tx, MODEL, vector, 10, NO_FILTERS)
            overlap += len({d for d, _ in ann} & {d for d, _ in exact})
    return overlap / (10 * len(queries))


def render(rows: list[Row], baseline: float) -> str:
    header = (
        f"{'backend':<9}{'chunks':>8}{'ingest/s':>10}{'x model':>9}"
        + "".join(f"{m + ' p50/p95 ms':>22}" for m in ("lexical", "vector", "hybrid"))
        + f"{'recall@10':>11}"
    )
    lines = [f"default model ({DEFAULT_MODEL}) embeds {baseline:.0f} chunks/s", header]
    for r in rows:
        lines.append(
            f"{r.backend:<9}{r.chunks:>8}{r.ingest_per_s:>10.0f}{r.ingest_per_s / baseline:>8.1f}x"
            + "".join(
                f"{f'{r.p50[m]:.1f} / {r.p95[m]:.1f}':>22}" for m in ("lexical", "vector", "hybrid")
            )
            + f"{r.recall_at_10:>11.3f}"
        )
    return "\n".join(lines)


async def main() -> None:
    baseline = await model_throughput()
    words = vocabulary()
    rows: list[Row] = []
    server = PgvectorServer().start()
    try:
        for size in SIZES:
            with tempfile.TemporaryDirectory() as data_dir:
                base = Settings(data_dir=Path(data_dir), embedding_model=MODEL)
                rows.append(await measure("sqlite", base, size, words))
                prefix = f"bhbench_{secrets.token_hex(4)}"
                done = await provision.provision(
                    server.admin_url,
                    ["rag"],
                    prefix=prefix,
                    output=Path(data_dir) / "urls.json",
                    extensions={"rag": ["vector"]},
                )
                try:
                    pg = Settings(
                        data_dir=Path(data_dir), embedding_model=MODEL, database_urls=done.urls
                    )
                    rows.append(await measure("postgres", pg, size, words))
                finally:
                    await provision.drop(server.admin_url, ["rag"], prefix=prefix)
            print(render(rows, baseline), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
