"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Ollama,
vLLM, TEI), configured by BULKHEAD_EMBEDDINGS_URL and BULKHEAD_EMBEDDINGS_API_KEY."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from contracts.errors import Unavailable

from ..settings import Settings
from .base import Vectors, normalise

BATCH = 64
TIMEOUT_S = 30.0


class EmbeddingsUnavailable(Unavailable):
    """The embeddings endpoint could not be reached or answered with an error."""


class OpenAICompatibleEmbedder:
    def __init__(self, model_name: str, settings: Settings) -> None:
        if not settings.embeddings_url:
            raise EmbeddingsUnavailable(
                f"model {model_name} needs BULKHEAD_EMBEDDINGS_URL (e.g. http://host:11434/v1)"
            )
        self._model_name = model_name
        self._model = model_name.removeprefix("openai:")
        self._url = settings.embeddings_url.rstrip("/") + "/embeddings"
        key = settings.embeddings_api_key
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def model_name(self) -> str:
        return self._model_name

    async def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        async with httpx.AsyncClient(timeout=TIMEOUT_S, headers=self._headers) as client:
            for start in range(0, len(texts), BATCH):
                rows.extend(await self._embed_batch(client, list(texts[start : start + BATCH])))
        return normalise(np.array(rows, dtype=np.float32))

    async def _embed_batch(self, client: httpx.AsyncClient, batch: list[str]) -> list[list[float]]:
        try:
            response = await client.post(self._url, json={"model": self._model, "input": batch})
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in data]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise EmbeddingsUnavailable(
                f"embeddings endpoint {self._url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if len(vectors) != len(batch):
            raise EmbeddingsUnavailable(f"{self._url} returned {len(vectors)} of {len(batch)}")
        return vectors
