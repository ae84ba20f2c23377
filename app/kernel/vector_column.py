"""A vector column: float32 bytes on SQLite (sqlite-vec's format), pgvector on PostgreSQL.

No dimension is fixed in the column, so vectors of several models live side by side;
each model's index (in the module that owns the table) fixes its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import ColumnElement, Dialect, Float, LargeBinary, bindparam, func
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator, TypeEngine


class VectorColumn(TypeDecorator[Any]):
    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        vector = np.asarray(value, dtype=np.float32)
        return vector if dialect.name == "postgresql" else vector.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32)
        return np.frombuffer(value, dtype=np.float32)


def cosine_distance(
    column: QueryableAttribute[Any], query: npt.NDArray[np.float32] | None, dialect: str
) -> ColumnElement[float]:
    """An exact scan's ordering: pgvector's `<=>` or sqlite-vec's `vec_distance_cosine`.
    No cast to vector(dims) on PostgreSQL: this expression matches no HNSW index. A
    `query` of None: the parameter `q`, given when the statement runs (one built once)."""
    if query is None:
        vector = bindparam("q", type_=VectorColumn())
    elif dialect == "postgresql":
        vector = bindparam("q", query, type_=VECTOR())
    else:
        vector = bindparam("q", query.astype(np.float32).tobytes(), type_=LargeBinary)
    if dialect == "postgresql":
        return column.op("<=>", return_type=Float)(vector)
    return func.vec_distance_cosine(column, vector)
