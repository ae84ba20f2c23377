"""The default embedder (all-MiniLM-L6-v2, int8 ONNX) finds meaning, not only words."""

from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest

from app.kernel.database import open_module_database
from app.kernel.embedding import DEFAULT_MODEL, create_embedder
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
