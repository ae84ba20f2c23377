"""Token counts from a real BPE tokenizer (OpenAI's o200k_base) that ships with its data.

`bpe-openai` carries the encoding files inside the wheel, so counting works offline;
loading takes ~0.1 s, done once per process.
"""

from __future__ import annotations

from functools import cache

import bpe_openai

TOKEN_ENCODING = "o200k_base"


@cache
def _encoding() -> bpe_openai.Encoding:
    return bpe_openai.get_encoding(TOKEN_ENCODING)


def count_tokens(text: str) -> int:
    # Ordinary: user text that looks like "<|endoftext|>" is counted as text, not refused.
    return len(_encoding().encode_ordinary(text))
