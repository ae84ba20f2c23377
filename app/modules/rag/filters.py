"""Search filters as SQL conditions on `documents`, for both backends.

Filters go into the query that ranks, never after it, so a filter that removes most
chunks still yields `k` results whenever `k` chunks match.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, cast, func, literal, true
from sqlalchemy.dialects.postgresql import JSONB

from contracts.rag import SearchFilters

from .models import DocumentRow

_SQLITE_NUMBER = ("integer", "real")


def filter_condition(filters: SearchFilters, dialect: str) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if filters.source_prefix is not None:
        conditions.append(DocumentRow.source.startswith(filters.source_prefix, autoescape=True))
    for key, value in filters.metadata.items():
        conditions.append(
            _postgres_equals(key, value) if dialect == "postgresql" else _sqlite_equals(key, value)
        )
    return and_(true(), *conditions)


def _postgres_equals(key: str, value: str | int | float | bool) -> ColumnElement[bool]:
    # Containment compares JSON values with their types: 1 never matches "1" or true.
    return DocumentRow.meta.op("@>")(cast(literal({key: value}, JSONB), JSONB))


def _sqlite_equals(key: str, value: str | int | float | bool) -> ColumnElement[bool]:
    path = f'$."{key}"'
    kind = func.json_type(DocumentRow.meta, path)
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    allowed = ("text",) if isinstance(value, str) else _SQLITE_NUMBER
    return and_(kind.in_(allowed), func.json_extract(DocumentRow.meta, path) == value)
