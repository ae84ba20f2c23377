"""Split a text into overlapping chunks on paragraph and sentence boundaries.

A chunk holds whole sentences (a sentence longer than a chunk is cut between words),
at most `size` characters; the next chunk starts with the last sentences of the
previous one, up to `overlap` characters, so an answer spanning a boundary is in both.
"""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_into_chunks(text: str, *, size: int, overlap: int) -> list[str]:
    units = _units(text, size)
    chunks: list[str] = []
    current: list[tuple[str, bool]] = []
    for unit, starts_paragraph in units:
        if current and _length([*current, (unit, starts_paragraph)]) > size:
            chunks.append(_join(current))
            current = _tail(current, overlap, room=size - len(unit) - 2)
        current.append((unit, starts_paragraph))
    if current:
        chunks.append(_join(current))
    return chunks


def _units(text: str, size: int) -> list[tuple[str, bool]]:
    """Sentences (or word runs of an over-long sentence), flagged if a paragraph starts."""
    units: list[tuple[str, bool]] = []
    for paragraph in _PARAGRAPH.split(text.strip()):
        first = True
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            for piece in _word_runs(sentence, size):
                units.append((piece, first))
                first = False
    return units


def _word_runs(sentence: str, size: int) -> list[str]:
    if len(sentence) <= size:
        return [sentence] if sentence else []
    runs, run = [], ""
    for word in sentence.split(" "):
        if run and len(run) + 1 + len(word) > size:
            runs.append(run)
            run = word
        else:
            run = f"{run} {word}" if run else word
    return [*runs, run] if run else runs


def _tail(units: list[tuple[str, bool]], overlap: int, *, room: int) -> list[tuple[str, bool]]:
    """The last whole units of a chunk that fit in `overlap` (and leave room for more)."""
    tail: list[tuple[str, bool]] = []
    for unit in reversed(units):
        if _length([unit, *tail]) > min(overlap, room):
            break
        tail.insert(0, unit)
    return tail


def _join(units: list[tuple[str, bool]]) -> str:
    text = ""
    for unit, starts_paragraph in units:
        separator = "\n\n" if starts_paragraph else " "
        text = f"{text}{separator}{unit}" if text else unit
    return text


def _length(units: list[tuple[str, bool]]) -> int:
    return len(_join(units))
