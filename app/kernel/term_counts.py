"""What a word search learned of an index's terms, kept FRESH_S seconds in the process.

Before it searches, a two-stage word search asks how many rows hold each of the query's
words, to look up the rarest first (`rarest_words`): FTS5 counts a term by walking its
whole list of rows (`fts5_search`), PostgreSQL by a statement over its statistics that
took longer to plan than to run (`postgres_bm25`). For the common words most questions
share, that was a tenth of a recall at 100k memories (2-4 ms). What the counts decide is
which words the first stage looks up, and on PostgreSQL the idf and average length BM25
weighs by, which are statistics already (ANALYZE's, a sample's): a count a minute old
changes which rows a search looks at only for a word whose count has since crossed the
budget, and a score by what one row more or less does to a word's idf. So each process
keeps what it counted, per database, table and term, for FRESH_S, and writes do not
forget it: in a server that writes as it answers, it would be forgotten before it was
used again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from cachetools import TTLCache

FRESH_S = 60.0
KEPT = 65_536  # terms of each kind, over every index of the process: a few MB at most

V = TypeVar("V")


class RecentTerms(Generic[V]):
    """Values of terms (a count, a word's lexemes) per place, the database's URL and the
    table, for FRESH_S from when they were made."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._kept: TTLCache[tuple[str, str, str], V] = TTLCache(KEPT, FRESH_S, timer=clock)
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    def recent(self, place: tuple[str, str], terms: Iterable[str]) -> dict[str, V]:
        """Those of the terms made in the last FRESH_S in `place`."""
        found = {}
        with self._lock:
            for term in terms:
                value = self._kept.get((*place, term))
                if value is not None:
                    found[term] = value
        return found

    def keep(self, place: tuple[str, str], made: Mapping[str, V]) -> None:
        with self._lock:
            for term, value in made.items():
                self._kept[(*place, term)] = value
