"""Diversified top k: few chunks per source while others match, then fill k in order."""

from app.modules.rag.diversity import diversified

RANKED = ["a1", "a2", "b1", "a3", "c1", "b2"]  # chunk names: source letter, chunk number


def source(chunk: str) -> str:
    return chunk[0]


def test_one_per_source_first() -> None:
    assert diversified(RANKED, source, 3, 1) == ["a1", "b1", "c1"]


def test_held_back_chunks_fill_the_rest_in_rank_order() -> None:
    assert diversified(RANKED, source, 5, 1) == ["a1", "b1", "c1", "a2", "a3"]
    assert diversified(RANKED, source, 4, 2) == ["a1", "a2", "b1", "c1"]


def test_none_ranks_chunks_alone() -> None:
    assert diversified(RANKED, source, 3, None) == ["a1", "a2", "b1"]


def test_fewer_candidates_than_k() -> None:
    assert diversified(["a1", "a2"], source, 5, 1) == ["a1", "a2"]
