"""The words of a search query worth matching, for the modules that search by words."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")

# Words too common to say anything about a text: the Snowball English list that
# PostgreSQL's `english` configuration drops, so both backends ignore the same words.
# Without it, FTS5 ranks by how often a chunk says "the" or "now", and that noise,
# fused into hybrid rankings, cost more than the words were worth
# (measured with bench/retrieval_quality.py).
STOPWORDS = frozenset(
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his "
    "himself she her hers herself it its itself they them their theirs themselves what "
    "which who whom this that these those am is are was were be been being have has had "
    "having do does did doing a an the and but if or because as until while of at by for "
    "with about against between into through during before after above below to from up "
    "down in out on off over under again further then once here there when where why how "
    "all any both each few more most other some such no nor not only own same so than too "
    "very s t can will just don should now ".split()
)


def query_words(query: str) -> list[str]:
    words = dict.fromkeys(w.lower() for w in _WORD.findall(query))
    meaningful = [w for w in words if w not in STOPWORDS]
    return (meaningful or list(words))[:64]
