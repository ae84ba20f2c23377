"""Hybrid search against its parts, and diversified against plain, on both labelled sets
(default model), on SQLite and on PostgreSQL: their word searches rank differently, and
fusion must hold on both.

Subsets keep CI quick: the first questions of each set over the documents that answer
them plus a share of the others as distractors. `make bench` runs both whole sets
(bench/retrieval_quality.py); the closing figures come from there.
"""

from dataclasses import replace
from pathlib import Path

import pytest

from app.kernel.embedding import DEFAULT_MODEL, create_embedder
from app.kernel.settings import Settings
from bench.retrieval_quality import (
    EmbeddedOnce,
    Quality,
    best_single,
    load_set,
    measure,
    render,
    subset,
)
from tests.conftest import empty_postgres_tables

SUBSETS = {"docstrings": (130, 3), "manpages": (40, 10)}  # (questions, every n-th distractor)


@pytest.fixture(scope="module")
def embedder() -> EmbeddedOnce:
    """The default model, each text embedded once for both backends (one worker runs
    this file's tests)."""
    return EmbeddedOnce(create_embedder(DEFAULT_MODEL, Settings()))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("name", SUBSETS)
async def test_hybrid_matches_or_beats_its_best_leg_and_diversity_lifts_recall(
    name: str,
    backend: str,
    embedder: EmbeddedOnce,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    questions, distractors_every = SUBSETS[name]
    labelled = subset(load_set(name), questions, distractors_every)
    settings = Settings(data_dir=tmp_path, embedding_model=DEFAULT_MODEL)
    if backend == "postgres":
        urls: dict[str, str] = request.getfixturevalue("postgres_urls")
        await empty_postgres_tables(urls)
        settings = replace(settings, database_urls=urls)
    rows = await measure(labelled, settings, embedder)
    report = render(rows, f"{name} subset on {backend}")
    hybrid = _row(rows, "hybrid", 1)
    best = best_single(rows, 1)
    assert hybrid.recall_at_5 >= best.recall_at_5, report
    assert hybrid.ndcg_at_10 >= best.ndcg_at_10 - 0.02, report  # within one question
    assert hybrid.recall_at_5 >= _row(rows, "hybrid", None).recall_at_5, report
    assert _row(rows, "vector", 1).recall_at_5 > 0.6, report  # the model finds meaning


def _row(rows: list[Quality], mode: str, per_source: int | None) -> Quality:
    return next(r for r in rows if r.mode == mode and r.per_source == per_source)
