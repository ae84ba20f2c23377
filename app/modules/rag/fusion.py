"""Hybrid fusion: every candidate scored by both rankings, words weighted by how on-topic
their hits are.

Each ranking contributes its top candidates. Every candidate then gets its exact cosine
similarity (the vector ranking's score, computed for the word ranking's finds too) and
its word score (0 where words did not find it); both are min-max scaled over the
candidates and summed, the word score times a weight. The weight is not fixed: it
shrinks with the word ranking's *agreement*, how far above the background its top
hits' similarity stands next to the vector ranking's top. A query whose words match
text about something else (common words in long manuals) gets little say from them;
one whose words name the topic gets its full weight.

Why not reciprocal rank fusion: RRF credits rank 1 of a noisy ranking as much as rank 1
of a good one, and a candidate missing from one list scores as if it ranked last there.
On both labelled sets it lost to its best leg (bench/retrieval_quality.py has the
figures). LEXICAL_WEIGHT and AGREEMENT_POWER were chosen on the docstrings set and
checked on the manual pages set, and both again with noise added to the similarities
(a weaker embedder), where the word ranking is the stronger leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean, median
from uuid import UUID

LEXICAL_WEIGHT = 0.5
AGREEMENT_POWER = 2
AGREEMENT_DEPTH = 5  # top hits of each ranking that measure agreement


def fuse(
    similarity: Mapping[UUID, float],
    by_vector: Sequence[UUID],
    by_words: Sequence[tuple[UUID, float]],
) -> list[tuple[UUID, float]]:
    """All candidates, best first; `similarity` holds every candidate's cosine similarity
    (a candidate without a vector of the active model has none), `by_vector` the vector
    ranking, `by_words` the word ranking with its scores. Ties by id."""
    words = dict(by_words)
    near = _scaled(similarity)
    weight = LEXICAL_WEIGHT * agreement(similarity, by_vector, [d for d, _ in by_words])
    found = _scaled(words)
    fused = {d: near.get(d, 0.0) + weight * found.get(d, 0.0) for d in {*similarity, *words}}
    return sorted(fused.items(), key=lambda pair: (-pair[1], str(pair[0])))


def agreement(
    similarity: Mapping[UUID, float], by_vector: Sequence[UUID], by_words: Sequence[UUID]
) -> float:
    """How far the word ranking's top hits stand above the background (the median
    similarity of the vector ranking's candidates), as a share of how far the vector
    ranking's own top hits do, to the power AGREEMENT_POWER: in [0, 1]; 1 when there is
    no vector ranking to compare with."""
    if not by_vector:
        return 1.0
    if not by_words:
        return 0.0
    background = median(similarity[d] for d in by_vector)
    vector_top = fmean(similarity[d] for d in by_vector[:AGREEMENT_DEPTH]) - background
    words_top = fmean(similarity.get(d, background) for d in by_words[:AGREEMENT_DEPTH])
    if vector_top <= 0:
        return 1.0
    share = (words_top - background) / vector_top
    return float(min(1.0, max(0.0, share)) ** AGREEMENT_POWER)


def _scaled(scores: Mapping[UUID, float]) -> dict[UUID, float]:
    """Min-max scaled to [0, 1]; all 1.0 when every score is equal."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    spread = high - low
    return {d: (s - low) / spread if spread > 0 else 1.0 for d, s in scores.items()}
