"""How many rows of a word index held each term when last counted (`recent`).

Before it searches, SQLite's two-stage word search asks how many rows hold each of the
query's words, to look up the rarest first (`fts5_search`, `rarest_words`). FTS5 counts
a term by walking its whole list of rows: for the common words most questions share,
2-4 ms of a recall at 100k memories. The counts decide which words the first stage
looks up, and each word's weight in the scores (its IDF, `bm25_counted`: FTS5's bm25()
would count them again in each search). So a count a minute old moves a word between
the stages, and its weight, for at most that minute, as PostgreSQL's statistics do
(`lexeme_statistics`); two stages still score what they return as one would with the
same counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from .recent import FRESH_S, Recent

__all__ = ["FRESH_S", "KEPT", "RecentCounts"]

KEPT = 8_192  # terms, over every index of the process: 3.5 MB at most (440 bytes each)


class RecentCounts:
    """Terms' counts per place (the database's URL, the table), for FRESH_S from when
    they were made."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._kept: Recent[tuple[str, str, str], int] = Recent(KEPT, clock)

    def recent(self, place: tuple[str, str], terms: Iterable[str]) -> dict[str, int]:
        """Those of the terms made in the last FRESH_S in `place`."""
        found = {}
        for term in terms:
            value = self._kept.get((*place, term))
            if value is not None:
                found[term] = value
        return found

    def keep(self, place: tuple[str, str], made: Mapping[str, int]) -> None:
        for term, value in made.items():
            self._kept.keep((*place, term), value)
