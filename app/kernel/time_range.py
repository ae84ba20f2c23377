"""Parse the `range=24h` query parameter of stats routes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar.params import QueryParameter

from contracts.errors import MalformedRequest

# The `?range=24h` parameter every stats route takes.
StatsRange = Annotated[
    str, QueryParameter(name="range", description="how far back: 30m, 24h, 7d, 2w")
]

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MAX = timedelta(days=366)


def parse_range(value: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """`"24h"` -> (now - 24h, now). Units m, h, d, w; at most a year."""
    match = re.fullmatch(r"(\d{1,6})([mhdw])", value.strip())
    if not match:
        raise MalformedRequest(f"range {value!r} is not like 30m, 24h, 7d or 2w", field="range")
    span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < span <= _MAX:
        raise MalformedRequest("range must be longer than 0 and at most 366d", field="range")
    until = now or datetime.now(UTC)
    return until - span, until
