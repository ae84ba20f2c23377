"""How many rows of a word index held each term when last counted (`recent`).

Before it searches, SQLite's two-stage word search asks how many rows hold each of the
query's words, to look up the rarest first (`fts5_search`, `rarest_words`). FTS5 counts
a term by walking its whole list of rows: for the common words most questions share,
2-4 ms of a recall at 100k memories. The counts decide only which words the first stage
looks up; the scores are FTS5's own, made by each search from the index as it is, and
two stages score what they return as one would whatever the split. So a count a minute
old changes no score, only (for a word whose count has since crossed the budget) which
rows a search looks at.
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
