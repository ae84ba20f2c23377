"""FTS5's BM25 with the rows holding each word given: the SQLite extension `bm25_counted`.

FTS5's own bm25() walks every row of each of a query's words, in the whole index, to
count them before it scores a row; the word search has counted them already
(`fts5_search`), so it passes the counts to `bm25_counted` (bm25_counted.c), which
scores as bm25() does. FTS5 table alone, the docstrings set's questions over 100k
memories of one user among 200k: both stages 8.4 -> 5.8 ms (p50), 13.9 -> 9.6 (p95), and
the same rows and scores.

The extension is built by `make install` (and the image's build stage). Where it was not
built, a search ranks with bm25() instead, after one warning: the same scores, slower.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LIBRARY = Path(__file__).with_name("libbm25counted.so")  # not a Python module's name

logger = logging.getLogger(__name__)


@functools.cache
def built() -> bool:
    if LIBRARY.exists():
        return True
    logger.warning(
        "%s is not built (run `make install`): SQLite's word searches rank with FTS5's "
        "bm25(), which counts each word's rows itself: the same scores, slower",
        LIBRARY,
    )
    return False


def load(connection: Any) -> None:
    """Add `bm25_counted` to a connection that may load extensions, if it was built."""
    if built():
        connection.load_extension(str(LIBRARY))


def rank(table: str, counts: Sequence[int | None], name: str) -> tuple[str, dict[str, Any]]:
    """SQL of the BM25 (lower is better) of the rows a MATCH of `table` finds, whose
    phrases, in the order the MATCH names them, `counts` rows hold (None: not known,
    counted as bm25() does), and its parameters, named from `name`."""
    if not built():
        return f"bm25({table})", {}
    names = [f"{name}_{i}" for i in range(len(counts))]
    given = ", ".join(f":{n}" for n in names)
    return f"bm25_counted({table}, {given})", dict(zip(names, counts, strict=True))
