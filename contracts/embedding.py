"""Errors of the embedding models that several modules (rag, memory) use."""

from __future__ import annotations

from .errors import InvalidInput


class UnknownEmbeddingModel(InvalidInput):
    """No embedder serves a model of that name."""
