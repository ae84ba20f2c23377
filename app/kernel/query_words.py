"""The words of a search query worth matching, for the modules that search by words."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")

# Words too common to say anything about a text. PostgreSQL's `english` configuration
# drops the same kind; without this, FTS5 ranks by how often a chunk says "the", and that
# noise, fused into hybrid rankings, cost more than the words were worth
# (measured with bench/retrieval_quality.py).
STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from how i if in into is it its me my "
    "no not of on or so such than that the their then there these they this to was we "
    "what when where which while who why will with you your".split()
)


def query_words(query: str) -> list[str]:
    words = dict.fromkeys(w.lower() for w in _WORD.findall(query))
    meaningful = [w for w in words if w not in STOPWORDS]
    return (meaningful or list(words))[:64]
