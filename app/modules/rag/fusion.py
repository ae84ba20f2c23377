"""Reciprocal rank fusion: merge rankings by summing 1 / (k + rank) for each list."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60
T = TypeVar("T", bound=Hashable)


def reciprocal_rank_fusion(*rankings: Sequence[T], k: int = RRF_K) -> list[tuple[T, float]]:
    """Items of all rankings (best first), by fused score, best first; ties by first seen."""
    scores: dict[T, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
