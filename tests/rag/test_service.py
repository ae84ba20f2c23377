"""RagAPI in-process, on SQLite (sqlite-vec, FTS5) and PostgreSQL (pgvector, full text)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from app.modules.rag.fusion import LEXICAL_WEIGHT
from contracts.embedding import UnknownEmbeddingModel
from contracts.errors import InvalidInput
from contracts.rag import (
    DocumentCreate,
    DocumentNotFound,
    RagAPI,
    RagStats,
    SearchFilters,
    SearchRequest,
)

ANIMALS = DocumentCreate(
    source="kb/animals.md",
    text="Cats purr when they are content. Dogs bark at strangers.\n\n"
    "Parrots can imitate human speech. Goldfish live in water tanks.",
    metadata={"topic": "animals", "year": 2020, "public": True},
)
DATABASES = DocumentCreate(
    source="kb/databases.md",
    text="PostgreSQL has full text search. SQLite keeps a database in one file.",
    metadata={"topic": "databases", "year": 2024, "public": False},
)


async def stats_now(rag: RagAPI) -> RagStats:
    now = datetime.now(UTC)
    return await rag.stats(since=now - timedelta(hours=1), until=now + timedelta(seconds=1))


async def test_ingest_stores_chunks_and_search_finds_them_in_every_mode(rag: RagAPI) -> None:
    (result,) = await rag.ingest(documents=[ANIMALS])
    assert result.status == "created" and result.chunks == len(result.document_ids) >= 1
    for mode in ("hybrid", "vector", "lexical"):
        found = await rag.search(request=SearchRequest(query="purr cats", mode=mode, k=3))
        assert found.hits and found.hits[0].source == "kb/animals.md", mode
        assert "purr" in found.hits[0].content


async def test_hybrid_hits_carry_both_rankings_and_the_fused_score(rag: RagAPI) -> None:
    await rag.ingest(documents=[ANIMALS, DATABASES])
    found = await rag.search(request=SearchRequest(query="full text search in PostgreSQL", k=2))
    top, other = found.hits
    assert top.source == "kb/databases.md"
    assert top.vector_rank == 1 and top.lexical_rank == 1
    # First in both: the scaled similarity (1) plus the word score (1) times its weight.
    assert 1.0 <= top.score <= 1.0 + LEXICAL_WEIGHT and other.score < top.score
    assert top.vector_score is not None and top.lexical_score is not None


MANUAL = DocumentCreate(
    source="kb/cats-manual.md",
    text="\n\n".join(
        f"Chapter {n}. Cats purr and cats nap; caring for cats means brushing cats daily."
        for n in range(24)
    ),
)


async def test_results_come_from_different_sources_unless_asked_otherwise(rag: RagAPI) -> None:
    manual, _, _ = await rag.ingest(documents=[MANUAL, ANIMALS, DATABASES])
    assert manual.chunks >= 5
    for mode in ("hybrid", "vector", "lexical"):
        query = SearchRequest(query="cats purr", mode=mode, k=3)
        sources = [hit.source for hit in (await rag.search(request=query)).hits]
        matching = 2 if mode == "lexical" else 3  # no word of the query is in DATABASES
        assert len(set(sources[:matching])) == matching and len(sources) == 3, mode
        plain = replace(query, max_per_source=None)
        sources = [hit.source for hit in (await rag.search(request=plain)).hits]
        assert sources.count(MANUAL.source) >= 2, mode  # its chunks outrank the others
        capped = replace(query, k=4, max_per_source=2)
        sources = [hit.source for hit in (await rag.search(request=capped)).hits]
        assert sources[: matching + 1].count(MANUAL.source) == 2 and len(sources) == 4, mode


async def test_one_source_left_by_a_filter_still_fills_k(rag: RagAPI) -> None:
    await rag.ingest(documents=[MANUAL, ANIMALS])
    only_manual = SearchFilters(source_prefix=MANUAL.source)
    found = await rag.search(request=SearchRequest(query="cats", k=5, filters=only_manual))
    assert [hit.source for hit in found.hits] == [MANUAL.source] * 5
    assert len({hit.chunk_index for hit in found.hits}) == 5


async def test_same_source_and_text_again_writes_nothing(rag: RagAPI) -> None:
    (first,) = await rag.ingest(documents=[ANIMALS])
    (again,) = await rag.ingest(documents=[ANIMALS])
    assert again.status == "unchanged" and again.document_ids == first.document_ids


async def test_changed_text_replaces_the_sources_chunks(rag: RagAPI) -> None:
    (first,) = await rag.ingest(documents=[ANIMALS])
    changed = DocumentCreate(source=ANIMALS.source, text="Owls hunt at night.", metadata={})
    (second,) = await rag.ingest(documents=[changed])
    assert second.status == "replaced" and set(second.document_ids).isdisjoint(first.document_ids)
    with pytest.raises(DocumentNotFound):
        await rag.get_document(document_id=first.document_ids[0])
    lexical = await rag.search(request=SearchRequest(query="purr", mode="lexical"))
    vector = await rag.search(request=SearchRequest(query="cats purr", mode="vector", k=5))
    assert lexical.hits == []
    assert {h.document_id for h in vector.hits} <= set(second.document_ids)
    assert (await stats_now(rag)).chunks == second.chunks


async def test_changed_metadata_alone_is_a_change(rag: RagAPI) -> None:
    await rag.ingest(documents=[ANIMALS])
    retagged = DocumentCreate(source=ANIMALS.source, text=ANIMALS.text, metadata={"topic": "pets"})
    (result,) = await rag.ingest(documents=[retagged])
    assert result.status == "replaced"


async def test_batch_naming_a_source_twice_is_refused_and_writes_nothing(rag: RagAPI) -> None:
    with pytest.raises(InvalidInput):
        await rag.ingest(documents=[ANIMALS, ANIMALS])
    assert (await stats_now(rag)).chunks == 0


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (SearchFilters(metadata={"topic": "databases"}), {"kb/databases.md"}),
        (SearchFilters(metadata={"year": 2020}), {"kb/animals.md"}),
        (SearchFilters(metadata={"public": False}), {"kb/databases.md"}),
        (SearchFilters(metadata={"year": "2020"}), set()),  # a string is not the number
        (SearchFilters(source_prefix="kb/data"), {"kb/databases.md"}),
        (SearchFilters(source_prefix="kb/%"), set()),  # no wildcards in a prefix
        (SearchFilters(metadata={"topic": "animals"}, source_prefix="kb/d"), set()),
    ],
)
async def test_filters_select_by_metadata_and_source_prefix_in_every_mode(
    rag: RagAPI, filters: SearchFilters, expected: set[str]
) -> None:
    await rag.ingest(documents=[ANIMALS, DATABASES])
    for mode in ("hybrid", "vector", "lexical"):
        query = "cats database search file purr"
        found = await rag.search(
            request=SearchRequest(query=query, mode=mode, k=10, filters=filters)
        )
        assert {h.source for h in found.hits} == expected, mode


async def test_a_filter_matching_few_chunks_still_returns_k(rag: RagAPI) -> None:
    noise = [
        DocumentCreate(
            source=f"noise/{i}",
            text=f"General note number {i} about many things.",
            metadata={"tenant": "other"},
        )
        for i in range(90)
    ]
    rare = [
        DocumentCreate(
            source=f"rare/{i}",
            text=f"Rare note {i} about unrelated matters.",
            metadata={"tenant": "acme"},
        )
        for i in range(5)
    ]
    await rag.ingest(documents=noise[:45])
    await rag.ingest(documents=noise[45:] + rare)
    for mode in ("vector", "hybrid", "lexical"):
        found = await rag.search(
            request=SearchRequest(
                query="general note about many things",
                mode=mode,
                k=5,
                filters=SearchFilters(metadata={"tenant": "acme"}),
            )
        )
        if mode != "lexical":  # lexical needs a shared word: "note", "about" are shared
            assert len(found.hits) == 5, mode
        assert {h.source for h in found.hits} <= {d.source for d in rare}


async def test_every_search_writes_a_retrieval_log(rag: RagAPI) -> None:
    await rag.ingest(documents=[ANIMALS])
    await rag.search(request=SearchRequest(query="cats"))
    await rag.search(request=SearchRequest(query="zebra unicorn", mode="lexical"))
    stats = await stats_now(rag)
    assert stats.searches == 2 and stats.zero_result_rate == 0.5
    assert stats.p50_latency_ms is not None and stats.p95_latency_ms is not None
    assert stats.sources == 1 and stats.vectors_by_model == {"hashing-256": stats.chunks}


async def test_delete_document_and_delete_source(rag: RagAPI) -> None:
    (animals,) = await rag.ingest(documents=[ANIMALS])
    await rag.ingest(documents=[DATABASES])
    await rag.delete_document(document_id=animals.document_ids[0])
    with pytest.raises(DocumentNotFound):
        await rag.delete_document(document_id=animals.document_ids[0])
    assert await rag.delete_source(source=DATABASES.source) >= 1
    assert await rag.delete_source(source=DATABASES.source) == 0
    assert (await stats_now(rag)).chunks == animals.chunks - 1
    found = await rag.search(request=SearchRequest(query="PostgreSQL full text", k=5))
    assert all(h.source != DATABASES.source for h in found.hits)


async def test_reindex_switches_models_only_when_complete_and_resumes(rag: RagAPI) -> None:
    docs = [DocumentCreate(source=f"s/{i}", text=f"Fact {i}: the sky is blue.") for i in range(5)]
    await rag.ingest(documents=docs)
    step = await rag.reindex_step(model_name="hashing-64", batch_size=2)
    assert (step.embedded, step.total, step.active) == (2, 5, False)
    during = await rag.search(request=SearchRequest(query="sky blue", mode="vector"))
    assert during.model_name == "hashing-256" and during.hits
    # A chunk ingested mid-way gets both models' vectors.
    await rag.ingest(documents=[DocumentCreate(source="s/late", text="Late fact: grass is green.")])
    # "Interrupted": a fresh series of steps picks up where the last one stopped.
    while not step.active:
        step = await rag.reindex_step(model_name="hashing-64", batch_size=2)
    assert (step.embedded, step.total) == (6, 6)
    after = await rag.search(request=SearchRequest(query="grass green", mode="vector", k=1))
    assert after.model_name == "hashing-64" and after.hits[0].source == "s/late"
    stats = await stats_now(rag)
    assert stats.active_model == "hashing-64" and stats.reindexing_to is None


async def test_reindex_to_an_unknown_model_is_refused(rag: RagAPI) -> None:
    with pytest.raises(UnknownEmbeddingModel):
        await rag.reindex_step(model_name="word2vec-please")


async def test_get_document_of_unknown_id_is_not_found(rag: RagAPI) -> None:
    with pytest.raises(DocumentNotFound):
        await rag.get_document(document_id=uuid.uuid4())


async def test_a_text_without_words_is_stored_and_searching_it_does_not_fail(rag: RagAPI) -> None:
    await rag.ingest(documents=[DocumentCreate(source="bang", text="!!! ??? ...")])
    for mode in ("hybrid", "vector", "lexical"):
        found = await rag.search(request=SearchRequest(query="Lis9H", mode=mode, k=42))
        assert found.mode == mode
