"""Diversified top k: at most N chunks of one source while other sources still match.

An agent asking for k results wants k pieces of evidence; without this, one long
document's neighbouring chunks fill the top k (bench/retrieval_quality.py measures
both ways). Chunks held back are not dropped: when too few sources match to fill k,
they fill the remaining slots in rank order, so a search narrowed to one source still
returns k chunks of it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def diversified(
    ranked: Sequence[T], source_of: Callable[[T], Hashable], k: int, per_source: int | None
) -> list[T]:
    """The first k of `ranked` (best first) taking at most `per_source` of each source,
    then, if fewer than k, the held-back ones in their order. None: the first k."""
    if per_source is None:
        return list(ranked[:k])
    taken: list[T] = []
    held: list[T] = []
    per: dict[Hashable, int] = {}
    for item in ranked:
        source = source_of(item)
        if per.get(source, 0) < per_source:
            per[source] = per.get(source, 0) + 1
            taken.append(item)
            if len(taken) == k:
                return taken
        else:
            held.append(item)
    return taken + held[: k - len(taken)]
