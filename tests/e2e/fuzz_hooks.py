"""Schemathesis hooks for the fuzz run: shapes that once reached a 500, mixed in.

Generated bodies stay as schemathesis draws them most of the time; in turn, their times
get offsets that leave the calendar once in UTC, their integers grow past 64 bits, their
objects nest 950 deep, and cursors carry such values.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from typing import Any

import schemathesis

_turns = itertools.count()
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
EXTREME_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00")
HUGE = 10**30


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def _replace(value: Any, turn: int) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, turn) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, turn) for v in value]
    if turn == 1 and isinstance(value, str) and _TIME.match(value):
        return EXTREME_TIMES[len(value) % 2]
    if turn == 2 and isinstance(value, int) and not isinstance(value, bool):
        return HUGE
    return value


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    turn = next(_turns) % 4
    if not isinstance(body, dict) or turn == 0:
        return body
    if turn == 3:
        return {**body, next(iter(body), "metadata"): _nested(950)}
    return _replace(body, turn)


@schemathesis.hook
def map_query(ctx: Any, query: Any) -> Any:
    if isinstance(query, dict) and "cursor" in query and next(_turns) % 2:
        key = EXTREME_TIMES[0] if next(_turns) % 2 else HUGE
        raw = json.dumps(["any", key, str(uuid.uuid4())]).encode()
        query["cursor"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return query
