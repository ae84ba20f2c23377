"""Retrieval quality: recall@5, MRR and nDCG@10 of every mode, diversified and not, on
two labelled sets of different kinds of text.

- docstrings: 130 questions written in other words than the docs they ask about
  (bench/data/stdlib_queries.jsonl) over CPython's docstrings and language reference
  (bench/data/stdlib_docs.jsonl, ~2,300 chunks).
- manpages: 152 questions asked the way a user asks ("what is eating all the space in
  this folder") over 198 Unix manual pages (bench/data/manpages_*.jsonl, ~3,500 chunks;
  made by bench/make_manual_corpus.py). Most pages are many chunks long.

Each question names the sources that answer it; a hit is any chunk of one. Metrics are
per source: recall@5 = relevant sources in the top 5 / relevant sources; MRR = 1 / the
rank of the first relevant hit in the top 10; nDCG@10 gains 1 for each relevant source
the first time it appears. `python -m bench.retrieval_quality` (in `make bench`) runs
both whole sets; BENCH_QUICK=1 a few questions of each.

Each set is measured on SQLite and on PostgreSQL (the bundled pgvector server): their
word searches rank differently (FTS5's BM25; `postgres_bm25`), so fusion must hold on
both. The model embeds each text once; PostgreSQL is given the very vectors SQLite
stored, so only the databases differ.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import text

from app.kernel import migrations
from app.kernel.database import dialect_of, open_module_database
from app.kernel.embedding import DEFAULT_MODEL, create_embedder
from app.kernel.embedding.base import Embedder, Vectors
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.rag.service import RagService
from bench.pgvector_database import pgvector_database
from bench.sizes import size
from contracts.rag import DocumentCreate, RagAPI, SearchMode, SearchRequest
from tests.pgvector_server import PgvectorServer

DATA = Path(__file__).parent / "data"
MODES: tuple[SearchMode, ...] = ("lexical", "vector", "hybrid")
SETS = {"docstrings": "stdlib", "manpages": "manpages"}  # name -> file prefix in DATA
BACKENDS = ("sqlite", "postgres")
QUERIES_PER_SET = int(size("BENCH_QUALITY_QUERIES", "0", "8"))  # 0: every question


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant: frozenset[str]  # sources that answer it


@dataclass(frozen=True)
class LabelledSet:
    name: str
    documents: list[DocumentCreate]
    queries: list[LabelledQuery]


@dataclass(frozen=True)
class Quality:
    mode: str
    per_source: int | None  # the diversification asked for (None: chunks ranked alone)
    recall_at_5: float
    mrr: float
    ndcg_at_10: float


def load_set(name: str) -> LabelledSet:
    prefix = SETS[name]
    records = [json.loads(line) for line in (DATA / f"{prefix}_docs.jsonl").open()]
    queries = [json.loads(line) for line in (DATA / f"{prefix}_queries.jsonl").open()]
    return LabelledSet(
        name,
        [DocumentCreate(source=r["source"], text=r["text"]) for r in records],
        [LabelledQuery(q["query"], frozenset(q["relevant"])) for q in queries],
    )


def subset(labelled: LabelledSet, queries: int, distractors_every: int = 3) -> LabelledSet:
    """The first `queries` questions over the documents that answer them, plus every
    `distractors_every`-th other document (a smaller corpus for tests and quick runs)."""
    kept = labelled.queries[:queries]
    relevant = frozenset().union(*(q.relevant for q in kept))
    others = [d for d in labelled.documents if d.source not in relevant][::distractors_every]
    documents = [d for d in labelled.documents if d.source in relevant] + others
    return replace(labelled, documents=documents, queries=kept)


def load_corpus() -> list[DocumentCreate]:
    """The docstrings set's documents (other benchmarks draw their words from them)."""
    return load_set("docstrings").documents


async def ingest_corpus(rag: RagAPI, documents: list[DocumentCreate]) -> None:
    for start in range(0, len(documents), 50):
        await rag.ingest(documents=documents[start : start + 50])


def judge(sources: Sequence[str], relevant: frozenset[str]) -> tuple[float, float, float]:
    """(recall@5, reciprocal rank in the top 10, nDCG@10) of one ranked list of sources."""
    recall = len(relevant & set(sources[:5])) / len(relevant)
    first = next((i for i, s in enumerate(sources[:10], 1) if s in relevant), None)
    seen: set[str] = set()
    gain = 0.0
    for rank, source in enumerate(sources[:10], 1):
        if source in relevant and source not in seen:
            seen.add(source)
            gain += 1 / math.log2(rank + 1)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    return recall, 1 / first if first else 0.0, gain / ideal


async def evaluate(
    rag: RagAPI,
    queries: Sequence[LabelledQuery],
    per_source: Sequence[int | None] = (1,),
) -> list[Quality]:
    results = []
    for limit in per_source:
        for mode in MODES:
            totals = [0.0, 0.0, 0.0]
            for labelled in queries:
                found = await rag.search(
                    request=SearchRequest(
                        query=labelled.query, mode=mode, k=10, max_per_source=limit
                    )
                )
                scores = judge([hit.source for hit in found.hits], labelled.relevant)
                totals = [t + s for t, s in zip(totals, scores, strict=True)]
            recall, mrr, ndcg = (t / len(queries) for t in totals)
            results.append(Quality(mode, limit, recall, mrr, ndcg))
    return results


def best_single(rows: Sequence[Quality], per_source: int | None) -> Quality:
    singles = [r for r in rows if r.per_source == per_source and r.mode != "hybrid"]
    return max(singles, key=lambda r: r.recall_at_5)


def render(rows: Sequence[Quality], label: str) -> str:
    lines = [
        label,
        f"{'mode':<8}{'per source':>11}{'recall@5':>10}{'MRR':>7}{'nDCG@10':>9}"
        f"{'recall@5 / best single':>24}",
    ]
    for r in rows:
        best = best_single(rows, r.per_source).recall_at_5
        lines.append(
            f"{r.mode:<8}{r.per_source or 'any'!s:>11}{r.recall_at_5:>10.3f}{r.mrr:>7.3f}"
            f"{r.ndcg_at_10:>9.3f}{r.recall_at_5 / best if best else 0:>23.2f}x"
        )
    return "\n".join(lines)


class EmbeddedOnce:
    """A model whose every text is embedded once: a second database given the same
    texts stores the very vectors the first did, and costs no model time."""

    def __init__(self, model: Embedder) -> None:
        self._model = model
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def model_name(self) -> str:
        return self._model.model_name

    async def embed(self, texts: Sequence[str]) -> Vectors:
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            self._vectors.update(zip(new, await self._model.embed(new), strict=True))
        return np.array([self._vectors[t] for t in texts], dtype=np.float32)


async def measure(labelled: LabelledSet, settings: Settings, embedder: Embedder) -> list[Quality]:
    """Every mode's quality over the set, ingested into the rag database `settings` name."""
    await migrations.upgrade_modules([REGISTRY["rag"]], settings)
    database = open_module_database("rag", settings)
    try:
        rag = RagService(database, settings, {embedder.model_name: embedder})
        await ingest_corpus(rag, labelled.documents)
        async with database.transaction() as tx:
            if dialect_of(tx) == "postgresql":
                # The word statistics PostgreSQL ranks by, as autovacuum takes them
                # after a bulk load.
                await tx.execute(text("ANALYZE"))
        return await evaluate(rag, labelled.queries, per_source=(1, None))
    finally:
        await database.dispose()


@asynccontextmanager
async def backend(name: str, server: PgvectorServer, model: str) -> AsyncIterator[Settings]:
    """Settings naming a new, empty rag database on `name`: a SQLite file, or a
    database and role provisioned on the server (dropped after)."""
    with tempfile.TemporaryDirectory() as data_dir:
        if name == "sqlite":
            yield Settings(data_dir=Path(data_dir), embedding_model=model)
            return
        async with pgvector_database(server, "rag", Path(data_dir)) as urls:
            yield Settings(data_dir=Path(data_dir), embedding_model=model, database_urls=urls)


async def main() -> None:
    embedder = EmbeddedOnce(create_embedder(DEFAULT_MODEL, Settings()))
    server = PgvectorServer().start()
    try:
        for name in SETS:
            labelled = load_set(name)
            if QUERIES_PER_SET:
                labelled = subset(labelled, QUERIES_PER_SET, distractors_every=20)
            for backend_name in BACKENDS:
                async with backend(backend_name, server, DEFAULT_MODEL) as settings:
                    rows = await measure(labelled, settings, embedder)
                title = (
                    f"retrieval quality, {name} on {backend_name}: {len(labelled.queries)} "
                    f"questions, {len(labelled.documents)} documents, {DEFAULT_MODEL}"
                )
                print(render(rows, title), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
