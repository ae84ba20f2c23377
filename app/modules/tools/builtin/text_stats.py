"""Built-in tool `text.stats`: counts and the most frequent words of a text."""

import collections
import json
import re
import sys

params = json.load(sys.stdin)
text, top = params["text"], params.get("top", 10)
words = re.findall(r"[^\W_]+(?:['\u2019-][^\W_]+)*", text.lower())
sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
counts = collections.Counter(words)
json.dump(
    {
        "characters": len(text),
        "words": len(words),
        "unique_words": len(counts),
        "lines": len(text.splitlines()),
        "sentences": len(sentences),
        "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0,
        "top_words": [{"word": w, "count": c} for w, c in counts.most_common(top)],
    },
    sys.stdout,
)
