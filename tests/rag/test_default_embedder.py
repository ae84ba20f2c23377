"""The default embedder (all-MiniLM-L6-v2, int8 ONNX) finds meaning, not only words."""

from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest

from app.kernel.database import open_module_database
from app.kernel.embedding import DEFAULT_MODEL, create_embedder
from app.kernel.embedding.onnx import MiniLMEmbedder, batches
from app.kernel.settings import Settings
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, RagAPI, SearchRequest
from tests.conftest import upgrade_all


@pytest.fixture
async def semantic_rag(sqlite_settings: Settings) -> AsyncIterator[RagAPI]:
    settings = replace(sqlite_settings, embedding_model=DEFAULT_MODEL)
    await upgrade_all(settings)
    database = open_module_database("rag", settings)
    yield RagService(database, settings)
    await database.dispose()


async def test_paraphrase_that_shares_no_word_is_found_by_vector_search(
    semantic_rag: RagAPI,
) -> None:
    await semantic_rag.ingest(
        documents=[
            DocumentCreate(source="cats", text="Cats purr when they are content."),
            DocumentCreate(source="tax", text="Income tax returns are due in April."),
            DocumentCreate(source="rust", text="The borrow checker enforces ownership rules."),
        ]
    )
    query = "feline pets making a rumbling noise"
    vector = await semantic_rag.search(request=SearchRequest(query=query, mode="vector", k=1))
    lexical = await semantic_rag.search(request=SearchRequest(query=query, mode="lexical"))
    assert vector.model_name == DEFAULT_MODEL and vector.hits[0].source == "cats"
    assert lexical.hits == []


async def test_default_embeddings_are_unit_length_384_d_and_deterministic() -> None:
    embedder = create_embedder(DEFAULT_MODEL, Settings())
    first = await embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
    again = await embedder.embed(["A man is eating food."])
    assert first.shape == (2, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.allclose(first[0], again[0], atol=1e-5)
    assert float(first[0] @ first[1]) > 0.6  # the two sentences mean nearly the same


def test_batches_attend_to_every_token_of_a_text_and_to_no_padding() -> None:
    # The tokenizer's file pads to 128 tokens; padding attended to would drown a short
    # query's meaning (it once cut vector recall@5 from 0.78 to 0.17).
    tokenizer, _ = MiniLMEmbedder.loaded()
    texts = ["Cats purr.", "A much longer sentence about tax returns, due in April. " * 8, "Hi"]
    encoded = tokenizer.encode_batch(texts)
    for batch in batches(encoded):
        for row, text_index in enumerate(batch.rows):
            mask = batch.inputs["attention_mask"][row]
            ids = batch.inputs["input_ids"][row]
            assert int(mask.sum()) == len(tokenizer.encode(texts[text_index]).ids)
            assert 0 not in ids[mask == 1]  # [PAD] is id 0


async def test_a_text_gets_the_same_vector_alone_and_among_longer_ones() -> None:
    # Batches pad to their longest text; padding must never reach a text's vector.
    embedder = create_embedder(DEFAULT_MODEL, Settings())
    texts = ["Cats purr.", "A much longer sentence about tax returns, due in April. " * 8, "Hi"]
    together = await embedder.embed(texts)
    alone = np.vstack([await embedder.embed([text]) for text in texts])
    assert np.allclose(np.sum(together * alone, axis=1), 1.0, atol=1e-3)
