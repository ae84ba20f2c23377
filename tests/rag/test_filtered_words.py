"""Word search with a filter returns the best matches that pass it, whether they rank
near the top of all matches (SQLite takes the index's best few, then the filter) or far
below them (then every match is joined to the filter)."""

import pytest
from sqlalchemy import select

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.rag import lexical_index
from app.modules.rag.models import DocumentRow
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, SearchFilters

# The word twice in a short text ranks above once in a long one: "deep" ranks last.
TOP = [DocumentCreate(source=f"top/{i}", text=f"Cats nap, cats purr, {i}.") for i in range(40)]
DEEP = [
    DocumentCreate(
        source=f"deep/{i}",
        text=f"Among many other things said at length here, cats appear once ({i}).",
    )
    for i in range(3)
]


@pytest.mark.parametrize("prefix", ["top/", "deep/"])
async def test_filtered_words_are_the_best_of_those_that_pass(
    settings: Settings, prefix: str
) -> None:
    database = open_module_database("rag", settings)
    try:
        rag = RagService(database, settings)
        await rag.ingest(documents=TOP + DEEP)
        async with database.read() as tx:
            everything = await lexical_index.search(tx, "cats", 100, SearchFilters())
            filtered = await lexical_index.search(
                tx, "cats", 5, SearchFilters(source_prefix=prefix)
            )
            sources = dict((await tx.execute(select(DocumentRow.id, DocumentRow.source))).all())
        assert len(everything) == 43
        assert all(sources[doc].startswith("top/") for doc, _ in everything[:40])  # as meant
        expected = [(doc, score) for doc, score in everything if sources[doc].startswith(prefix)]
        assert filtered == expected[:5]
        assert len(filtered) == (5 if prefix == "top/" else 3)
    finally:
        await database.dispose()
