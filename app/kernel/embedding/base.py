"""What every embedder is: texts in, L2-normalised float32 rows out, and the model's name.

The embedders (`hashing.py`, `http.py`, `onnx.py`) import only this file
(`importlinter.ini`); `factory.py` picks one by model name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..settings import DEFAULT_EMBEDDING_MODEL

DEFAULT_MODEL = DEFAULT_EMBEDDING_MODEL

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    @property
    def model_name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text, in order. Raises `Unavailable` when the
        model cannot be reached (an HTTP endpoint down)."""
        ...


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
