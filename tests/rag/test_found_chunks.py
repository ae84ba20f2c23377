"""What a search reads of the chunks its rankings found: each chunk that still exists,
and its similarity to the query as an exact scan computes it, in one statement."""

import uuid

import pytest

from app.kernel.database import open_module_database
from app.kernel.embedding import create_embedder
from app.kernel.settings import Settings
from app.modules.rag import vector_index
from app.modules.rag.found_chunks import read_found
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, SearchFilters

DOCUMENTS = [
    DocumentCreate(source="kb/cats.md", text="Cats purr when content.", metadata={"n": 1}),
    DocumentCreate(source="kb/dogs.md", text="Dogs bark at strangers.", metadata={"n": 2}),
    DocumentCreate(source="kb/fish.md", text="Goldfish live in tanks.", metadata={"n": 3}),
]


async def test_the_found_chunks_that_exist_with_their_exact_similarity(settings: Settings) -> None:
    database = open_module_database("rag", settings)
    rag = RagService(database, settings)
    model = settings.embedding_model
    try:
        cats, dogs, fish = [r.document_ids[0] for r in await rag.ingest(documents=DOCUMENTS)]
        await rag.delete_document(document_id=fish)
        query = (await create_embedder(model, settings).embed(["do cats purr"]))[0]
        async with database.read() as tx:
            found = await read_found(tx, [cats, dogs, fish, uuid.uuid4()], model, query)
            exact = dict(await vector_index.exact_search(tx, model, query, 10, SearchFilters()))
            unscored = await read_found(tx, [cats], model, None)
            other_model = await read_found(tx, [cats], "no-such-model", query)
    finally:
        await database.dispose()
    assert set(found) == {cats, dogs}  # neither the deleted chunk nor an unknown id
    assert found[cats].source == "kb/cats.md" and found[cats].metadata == {"n": 1}
    assert found[cats].content == "Cats purr when content." and found[cats].chunk_index == 0
    for doc in (cats, dogs):
        assert found[doc].similarity == pytest.approx(exact[doc], abs=1e-6)
    assert exact[cats] > exact[dogs]  # the query is about cats
    assert unscored[cats].similarity is None and unscored[cats].content == found[cats].content
    assert other_model[cats].similarity is None  # no vector of that model: not scored
