"""What a search reads of the rows it finds, besides their ids (`full_text`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import QueryableAttribute


@dataclass(frozen=True)
class ReadAlong:
    """Columns of the table a search reads with the rows it finds, in the statement that
    applies its conditions (a caller's own read of the same rows after cost it a round
    trip: memory's recall at 100k), and the values of their parameters: awaited only
    when that statement runs, so what the caller is still computing (a query's vector)
    overlaps the search's first statements. Its parameters are named apart from the
    search's own (`match`, `first`, `last`, `found_ids`, `found_rowids`)."""

    columns: Sequence[ColumnElement[Any] | QueryableAttribute[Any]]
    values: Callable[[], Awaitable[Mapping[str, Any]]] = field(default=lambda: _no_values())


async def _no_values() -> Mapping[str, Any]:
    return {}


NOTHING_ALONG = ReadAlong(())
