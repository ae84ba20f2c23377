"""How deeply a JSON text nests, measured on its bytes before anything parses it.

Parsers recurse per level: msgspec gives up past ~1,000 levels with a RecursionError,
Python's json and SQLAlchemy's JSON columns likewise. Measuring first turns such input
into a clear refusal. Vectorised with NumPy: one pass over the bytes whatever the size.
"""

from __future__ import annotations

import re

import numpy as np

MAX_JSON_DEPTH = 64  # far past any real document; far below any parser's own limit
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects (0 for a scalar); strings do not count."""
    if not raw:
        return 0
    structure = np.frombuffer(_STRINGS.sub(b'""', raw), dtype=np.uint8)
    steps = np.isin(structure, _OPEN).astype(np.int32) - np.isin(structure, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))
