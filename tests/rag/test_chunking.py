"""Chunks: bounded size, whole words, whole sentences where they fit, overlapping."""

import itertools
import re

import pytest

from app.modules.rag.chunking import split_into_chunks  # the chunker alone, no database

TEXT = "\n\n".join(
    " ".join(f"Sentence {p}.{s} talks about topic {p * 10 + s} in plain words." for s in range(6))
    for p in range(8)
)


@pytest.mark.parametrize(("size", "overlap"), [(120, 0), (200, 50), (500, 120)])
def test_chunks_respect_the_size_and_cut_only_between_words(size: int, overlap: int) -> None:
    chunks = split_into_chunks(TEXT, size=size, overlap=overlap)
    words = set(TEXT.split())
    assert all(len(c) <= size for c in chunks)
    assert all(set(c.split()) <= words for c in chunks)  # no word was cut in two


def test_chunks_end_on_sentence_boundaries_and_cover_every_sentence() -> None:
    chunks = split_into_chunks(TEXT, size=200, overlap=0)
    assert all(c.endswith(".") for c in chunks)
    sentences = re.findall(r"Sentence \d+\.\d+ [^.]*\.", TEXT)
    assert sorted(re.findall(r"Sentence \d+\.\d+ [^.]*\.", " ".join(chunks))) == sorted(sentences)


def test_next_chunk_starts_with_the_tail_of_the_previous() -> None:
    chunks = split_into_chunks(TEXT, size=200, overlap=80)
    for previous, following in itertools.pairwise(chunks):
        first_sentence = re.match(r"Sentence \d+\.\d+ [^.]*\.", following)
        assert first_sentence and first_sentence.group(0) in previous


def test_paragraph_breaks_are_kept_inside_a_chunk() -> None:
    chunks = split_into_chunks("One. Two.\n\nThree. Four.", size=100, overlap=0)
    assert chunks == ["One. Two.\n\nThree. Four."]


def test_a_sentence_longer_than_a_chunk_is_cut_between_words() -> None:
    sentence = " ".join(f"word{i}" for i in range(100))
    chunks = split_into_chunks(sentence, size=60, overlap=0)
    assert " ".join(chunks) == sentence
    assert all(len(c) <= 60 for c in chunks)
