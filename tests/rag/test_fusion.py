"""Hybrid fusion: both scores for every candidate, words weighted by their agreement."""

import uuid

import pytest

from app.modules.rag.fusion import LEXICAL_WEIGHT, agreement, fuse

A, B, C, D, E, F = (uuid.UUID(int=n) for n in range(1, 7))


def test_a_chunk_found_only_by_words_is_ranked_by_its_real_similarity_too() -> None:
    # C is close in meaning but missed by the vector ranking's cut; its words match best.
    similarity = {A: 0.80, B: 0.50, D: 0.30, E: 0.25, F: 0.20, C: 0.78}
    fused = fuse(similarity, [A, B, D, E, F], [(C, 9.0), (E, 1.0)])
    assert [d for d, _ in fused][:2] == [C, A]


def test_words_matching_off_topic_text_get_no_say() -> None:
    similarity = {A: 0.80, B: 0.70, C: 0.40, D: 0.35, E: 0.30, F: 0.30}
    by_vector = [A, B, C, D, E, F]
    off_topic = [(F, 12.0), (E, 11.0)]  # no better than the median candidate
    assert agreement(similarity, by_vector, [d for d, _ in off_topic]) == 0.0
    assert [d for d, _ in fuse(similarity, by_vector, off_topic)] == by_vector


def test_words_agreeing_with_meaning_get_their_full_weight() -> None:
    similarity = {A: 0.80, B: 0.70, C: 0.40, D: 0.35, E: 0.30, F: 0.30}
    by_vector = [A, B, C, D, E, F]
    words = [(B, 5.0), (A, 4.0)]
    assert agreement(similarity, by_vector, [B, A]) == 1.0
    scores = dict(fuse(similarity, by_vector, words))
    assert scores[B] > scores[A]  # the words' favourite wins a close call
    assert scores[B] == pytest.approx(
        0.8 + LEXICAL_WEIGHT
    )  # B's similarity scaled over 0.30..0.80, plus 1


def test_either_ranking_alone_passes_through_in_order() -> None:
    similarity = {A: 0.9, B: 0.5}
    assert [d for d, _ in fuse(similarity, [A, B], [])] == [A, B]
    assert [d for d, _ in fuse({}, [], [(B, 3.0), (A, 1.0)])] == [B, A]
