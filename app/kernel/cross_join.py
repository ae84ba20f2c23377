"""SQLite's CROSS JOIN: an inner join whose left side SQLite always loops over outside.

SQLite's planner may order a join's tables as it likes, except that the table left of a
CROSS JOIN stays the outer loop (its documented way to fix the order). A statement that
walks a ranked list (`json_each`) row by row, joins each to a table and stops at LIMIT
needs that order, and SQLAlchemy renders only JOIN: `cross_join(a, b, on)` renders
`a CROSS JOIN b ON on`.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import _de_clone
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FromClause, Join


class CrossJoin(Join):
    """A Join rendered with CROSS JOIN (an inner join: the same rows)."""

    inherit_cache = True


def cross_join(left: FromClause, right: FromClause, on: ColumnElement[bool]) -> CrossJoin:
    return CrossJoin(left, right, on)


@compiles(CrossJoin)
def _render(join: CrossJoin, compiler: SQLCompiler, **kw: Any) -> str:
    if from_linter := kw.get("from_linter"):  # as SQLAlchemy's own joins tell its linter
        from_linter.edges.update(
            itertools.product(
                _de_clone(join.left._from_objects), _de_clone(join.right._from_objects)
            )
        )
    assert join.onclause is not None  # `cross_join` is always given one
    kw["asfrom"] = True
    return (
        join.left._compiler_dispatch(compiler, **kw)
        + " CROSS JOIN "
        + join.right._compiler_dispatch(compiler, **kw)
        + " ON "
        + join.onclause._compiler_dispatch(compiler, **{**kw, "asfrom": False})
    )
