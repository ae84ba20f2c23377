"""Retrieval quality: recall@5 and MRR of lexical, vector and hybrid search.

The labelled set: 130 questions written in other words than the docs they ask about
(bench/data/stdlib_queries.jsonl), each naming the sources that answer it, over
CPython's docstrings and language reference (bench/data/stdlib_docs.jsonl, ~2,300
chunks at the default chunk size). A hit is any chunk of a relevant source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contracts.rag import DocumentCreate, RagAPI, SearchMode, SearchRequest

DATA = Path(__file__).parent / "data"
MODES: tuple[SearchMode, ...] = ("lexical", "vector", "hybrid")


@dataclass(frozen=True)
class Quality:
    mode: str
    recall_at_5: float  # mean over queries of |relevant sources in top 5| / |relevant|
    mrr: float  # mean of 1 / rank of the first relevant chunk (0 if none in top 10)


def load_corpus(limit_to: set[str] | None = None) -> list[DocumentCreate]:
    records = [json.loads(line) for line in (DATA / "stdlib_docs.jsonl").open()]
    return [
        DocumentCreate(source=r["source"], text=r["text"])
        for r in records
        if limit_to is None or r["source"] in limit_to
    ]


def load_queries() -> list[tuple[str, set[str]]]:
    return [
        (q["query"], set(q["relevant"]))
        for q in map(json.loads, (DATA / "stdlib_queries.jsonl").open())
    ]


async def ingest_corpus(rag: RagAPI, documents: list[DocumentCreate]) -> None:
    for start in range(0, len(documents), 100):
        await rag.ingest(documents=documents[start : start + 100])


async def evaluate(rag: RagAPI, queries: list[tuple[str, set[str]]]) -> list[Quality]:
    results = []
    for mode in MODES:
        recall = reciprocal = 0.0
        for query, relevant in queries:
            found = await rag.search(request=SearchRequest(query=query, mode=mode, k=10))
            sources = [hit.source for hit in found.hits]
            recall += len(relevant & set(sources[:5])) / len(relevant)
            first = next((i for i, s in enumerate(sources, 1) if s in relevant), None)
            reciprocal += 1 / first if first else 0.0
        results.append(Quality(mode, recall / len(queries), reciprocal / len(queries)))
    return results


def render(rows: list[Quality], label: str) -> str:
    lines = [f"{label}", f"{'mode':<8} {'recall@5':>9} {'MRR':>7}"]
    lines += [f"{q.mode:<8} {q.recall_at_5:>9.3f} {q.mrr:>7.3f}" for q in rows]
    return "\n".join(lines)
