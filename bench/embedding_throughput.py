"""Default-model ingest against its floor: onnxruntime alone on the same batches.

The same texts (the docstrings set's first TEXTS documents, cut to one chunk) three
ways, in chunks/s, each as a ratio to the first:
  onnxruntime alone   session.run on the batches the embedder makes, tokenised beforehand
  embedder            MiniLMEmbedder.embed: tokenise, batch, run, pool, normalise
  RagAPI.ingest       chunk, embed, store in SQLite (vectors, words), 64 a call
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from app.kernel import migrations
from app.kernel.database import open_module_database
from app.kernel.embedding import DEFAULT_MODEL
from app.kernel.embedding.onnx import BATCH, THREADS, MiniLMEmbedder, batches
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.rag.service import RagService
from bench.retrieval_quality import load_corpus
from bench.sizes import size
from contracts.rag import DocumentCreate

TEXTS = int(size("BENCH_EMBED_TEXTS", "256", "24"))


async def main() -> None:
    texts = [d.text[:700] for d in load_corpus()[:TEXTS]]
    embedder = MiniLMEmbedder()
    tokenizer, session = embedder.loaded()
    prepared = batches(tokenizer.encode_batch(texts))
    session.run(None, prepared[0].inputs)  # warm up
    started = time.perf_counter()
    for batch in prepared:
        session.run(None, batch.inputs)
    floor = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    await embedder.embed(texts)
    embedded = len(texts) / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), embedding_model=DEFAULT_MODEL)
        await migrations.upgrade_modules([REGISTRY["rag"]], settings)
        database = open_module_database("rag", settings)
        try:
            rag = RagService(database, settings)
            documents = [DocumentCreate(source=f"t/{i}", text=t) for i, t in enumerate(texts)]
            started = time.perf_counter()
            for start in range(0, len(documents), 64):
                await rag.ingest(documents=documents[start : start + 64])
            ingested = len(texts) / (time.perf_counter() - started)
        finally:
            await database.dispose()
    print(
        f"\nDefault model ({DEFAULT_MODEL}), {len(texts)} chunks, {BATCH} a run, {THREADS} threads"
    )
    print(f"{'path':<20} {'chunks/s':>9} {'ratio':>8}")
    for name, rate in (
        ("onnxruntime alone", floor),
        ("embedder", embedded),
        ("RagAPI.ingest", ingested),
    ):
        print(f"{name:<20} {rate:>9.1f} {rate / floor:>7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
