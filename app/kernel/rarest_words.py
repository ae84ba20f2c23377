"""Which of a query's words a two-stage word search looks up first: the rarest, within a
budget of rows (`postgres_bm25` and `fts5_search` both split a query this way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def rarest_within(
    words: Sequence[str], rows_holding: Mapping[str, float], budget: int
) -> list[str]:
    """The words, rarest first, while their rows add up to `budget` (the rarest always),
    in the query's order."""
    kept: set[str] = set()
    total = 0.0
    for word in sorted(words, key=lambda w: rows_holding.get(w, 0.0)):
        held = rows_holding.get(word, 0.0)
        if kept and total + held > budget:
            break
        kept.add(word)
        total += held
    return [w for w in words if w in kept]
