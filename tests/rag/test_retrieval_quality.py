"""Hybrid search against its parts, and diversified against plain, on both labelled sets
(default model).

Subsets keep CI quick: the first questions of each set over the documents that answer
them plus a share of the others as distractors. `make bench` runs both whole sets
(bench/retrieval_quality.py); the closing figures come from there.
"""

from pathlib import Path

import pytest

from app.kernel import migrations
from app.kernel.database import open_module_database
from app.kernel.embedding import DEFAULT_MODEL
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.rag.service import RagService
from bench.retrieval_quality import (
    Quality,
    best_single,
    evaluate,
    ingest_corpus,
    load_set,
    render,
    subset,
)

SUBSETS = {"docstrings": (130, 3), "manpages": (40, 10)}  # (questions, every n-th distractor)


@pytest.mark.parametrize("name", SUBSETS)
async def test_hybrid_matches_or_beats_its_best_leg_and_diversity_lifts_recall(
    name: str, tmp_path: Path
) -> None:
    questions, distractors_every = SUBSETS[name]
    labelled = subset(load_set(name), questions, distractors_every)
    settings = Settings(data_dir=tmp_path, embedding_model=DEFAULT_MODEL)
    await migrations.upgrade_modules([REGISTRY["rag"]], settings)
    database = open_module_database("rag", settings)
    try:
        rag = RagService(database, settings)
        await ingest_corpus(rag, labelled.documents)
        rows = await evaluate(rag, labelled.queries, per_source=(1, None))
    finally:
        await database.dispose()
    report = render(rows, f"{name} subset")
    hybrid = _row(rows, "hybrid", 1)
    best = best_single(rows, 1)
    assert hybrid.recall_at_5 >= best.recall_at_5, report
    assert hybrid.ndcg_at_10 >= best.ndcg_at_10 - 0.02, report  # within one question
    assert hybrid.recall_at_5 >= _row(rows, "hybrid", None).recall_at_5, report
    assert _row(rows, "vector", 1).recall_at_5 > 0.6, report  # the model finds meaning


def _row(rows: list[Quality], mode: str, per_source: int | None) -> Quality:
    return next(r for r in rows if r.mode == mode and r.per_source == per_source)
