"""Hybrid search beats lexical and vector alone on the labelled set (default model).

A subset keeps CI quick: every document that answers one of the 130 questions, plus a
third of the other function docs as distractors (~570 documents). `make bench` runs the
whole corpus (bench/retrieval_quality.py).
"""

from dataclasses import replace

from app.kernel.database import open_module_database
from app.kernel.embedding import DEFAULT_MODEL
from app.kernel.settings import Settings
from app.modules.rag.service import RagService
from bench.retrieval_quality import evaluate, ingest_corpus, load_corpus, load_queries, render
from tests.conftest import upgrade_all


async def test_hybrid_beats_lexical_and_vector_on_recall_and_mrr(
    sqlite_settings: Settings,
) -> None:
    settings = replace(sqlite_settings, embedding_model=DEFAULT_MODEL)
    await upgrade_all(settings)
    queries = load_queries()
    relevant = set().union(*(sources for _, sources in queries))
    others = [d.source for d in load_corpus() if d.source not in relevant]
    distractors = [s for s in others if not s.startswith("topic:")][::3]
    database = open_module_database("rag", settings)
    try:
        rag = RagService(database, settings)
        await ingest_corpus(rag, load_corpus(relevant | set(distractors)))
        lexical, vector, hybrid = await evaluate(rag, queries)
    finally:
        await database.dispose()
    report = render([lexical, vector, hybrid], "subset")
    assert hybrid.recall_at_5 > max(lexical.recall_at_5, vector.recall_at_5), report
    assert hybrid.mrr > max(lexical.mrr, vector.mrr), report
    assert vector.recall_at_5 > 0.7, report  # the model finds meaning, not noise
