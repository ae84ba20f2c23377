"""Text embeddings behind one interface, shared by every module that needs them."""

from .base import DEFAULT_MODEL, Embedder, Vectors, normalise
from .factory import create_embedder

__all__ = ["DEFAULT_MODEL", "Embedder", "Vectors", "create_embedder", "normalise"]
