"""Feature hashing of words and word pairs: fast and deterministic, with no semantics.

For tests and benchmarks that need many vectors quickly; never the default.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from .base import Vectors, normalise

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions

    @property
    def model_name(self) -> str:
        return f"hashing-{self.dimensions}"

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_now(texts)

    def embed_now(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            # Text with no words ("!!!") still gets a feature: a zero vector has no direction.
            words = _WORD.findall(text.lower()) or [text]
            for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimensions
                vectors[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return normalise(vectors)
