"""Facts a user states about themself in a message ("I'm vegetarian", "my team is Ops").

A deliberately plain first-person pattern match: cheap enough to run on every message,
and what it keeps is only working memory, which expires. Anything smarter belongs to
the agent, which can call `POST /v1/memories` itself.
"""

from __future__ import annotations

import re

_SENTENCES = re.compile(r"[^.!?\n]+")
_FIRST_PERSON = re.compile(
    r"^(?:i am|i'm|i have|i've|my [\w' -]{1,40} (?:is|are|was)|"
    r"i (?:like|love|prefer|hate|dislike|live|work|use|need|want|speak)|call me)\b",
    re.IGNORECASE,
)
MAX_FACTS = 5
MAX_FACT_CHARS = 300


def stated_facts(text: str) -> list[str]:
    facts = []
    for match in _SENTENCES.finditer(text):
        sentence = " ".join(match.group().split())
        if _FIRST_PERSON.match(sentence) and len(sentence) <= MAX_FACT_CHARS:
            facts.append(sentence)
    return facts[:MAX_FACTS]
