"""What a process read of a database's statistics lately, kept FRESH_S seconds.

Some searches first read statistics that change slowly: how many rows hold a word, a
user's share of a table, ANALYZE's most common lexemes. Most only choose the way to
search, and a value a minute old changes no result; PostgreSQL's lexemes also score, as
of the last ANALYZE anyway. Each process keeps what it read, per database, for FRESH_S,
and writes do not forget it: in a server that writes as it answers, it would be
forgotten before it was used again. Users: `term_counts`, `lexeme_statistics`,
memory's `vector_index`; and `sign_bit_partition`, whose values say themselves whether
they are current.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession

FRESH_S = 60.0
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most `kept` values (or values of `size_of` that add up to `kept`, the newest
    kept), each for FRESH_S from when it was kept; thread-safe (`TTLCache` is not: the
    lock is ours)."""

    def __init__(
        self,
        kept: int,
        clock: Callable[[], float] = time.monotonic,
        size_of: Callable[[V], float] | None = None,
    ) -> None:
        self._kept: TTLCache[K, V] = TTLCache(kept, FRESH_S, timer=clock, getsizeof=size_of)
        self._lock = threading.Lock()
        _EVERY.add(self)

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._kept.get(key)

    def keep(self, key: K, value: V) -> None:
        """Keep the value, unless it is bigger than all that is kept (`size_of`)."""
        with self._lock:
            if self._kept.getsizeof(value) <= self._kept.maxsize:
                self._kept[key] = value

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()


_EVERY: weakref.WeakSet[Recent[Any, Any]] = weakref.WeakSet()


def forget_everything() -> None:
    """Forget what every `Recent` of the process keeps: for databases emptied and
    filled anew under the same URL within FRESH_S (the tests, which reuse theirs)."""
    for recent in list(_EVERY):
        recent.forget()


def database_of(tx: AsyncSession) -> str:
    """The database a transaction is in, as a key (its URL, interned: one string per
    database however often it is asked)."""
    return sys.intern(tx.get_bind().engine.url.render_as_string())
