"""A corpus of any size whose vectors are shaped like real embeddings.

`BASE` real chunks (the docstrings set's documents, cut to one chunk) are embedded once
with the default model. Chunk i of N is base chunk i % BASE with a sixth of its words
dropped, and its vector is the base's moved by Gaussian noise to a cosine of about 0.9:
the N vectors cluster as real text does (a uniform random cloud would make every index
look exact), and embedding 100k texts, which takes the model over an hour here, is paid
for only BASE of them. Queries are the set's real questions, embedded by the model.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.kernel.embedding import DEFAULT_MODEL, create_embedder
from app.kernel.embedding.base import Embedder, Vectors, normalise
from app.kernel.settings import Settings
from bench.retrieval_quality import load_set

CHUNK_CHARS = 700  # below the default chunk size: one chunk per document
NOISE = 0.0247  # per dimension: |noise|^2 = 384 * NOISE^2 ~ 0.23, cosine to the base ~ 0.9


@dataclass(frozen=True)
class RealisticCorpus:
    texts: list[str]
    vectors: Vectors  # one row per text
    queries: list[str]
    query_vectors: Vectors


async def realistic_corpus(size: int, base: int, seed: int = 1) -> RealisticCorpus:
    labelled = load_set("docstrings")
    originals = [d.text[:CHUNK_CHARS] for d in labelled.documents[:base]]
    base = len(originals)  # the set has about 1,500 documents
    model = create_embedder(DEFAULT_MODEL, Settings())
    base_vectors = await model.embed(originals)
    queries = [q.query for q in labelled.queries]
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    texts = []
    for i in range(size):
        words = originals[i % base].split()
        kept = [w for w in words if rng.random() >= 1 / 6] or words
        texts.append(" ".join(kept))
    moved = base_vectors[np.arange(size) % base] + noise.normal(0, NOISE, (size, 384))
    return RealisticCorpus(texts, normalise(moved), queries, await model.embed(queries))


class ReplayEmbedder:
    """The default model's name and queries, with the corpus's vectors replayed for its
    texts: what ingest stores is exactly the corpus."""

    def __init__(self, corpus: RealisticCorpus) -> None:
        self._known = dict(zip(corpus.texts, corpus.vectors, strict=True))
        self._known.update(zip(corpus.queries, corpus.query_vectors, strict=True))
        self._model: Embedder = create_embedder(DEFAULT_MODEL, Settings())

    @property
    def model_name(self) -> str:
        return DEFAULT_MODEL

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if all(t in self._known for t in texts):
            return np.array([self._known[t] for t in texts], dtype=np.float32).reshape(-1, 384)
        return await self._model.embed(texts)
