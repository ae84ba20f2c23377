"""Percentiles in the database: one row fetched per percentile, not every value.

Nearest rank by `ORDER BY ... OFFSET`, since SQLite has no percentile function and
the same query then runs on both backends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


async def nearest_rank(
    tx: AsyncSession,
    column: InstrumentedAttribute[Any],
    where: Sequence[ColumnElement[bool]],
    quantiles: Sequence[float],
) -> tuple[int, list[float | None]]:
    """How many rows match, and the value at each quantile (None when none match)."""
    count = await tx.scalar(select(func.count()).select_from(column.class_).where(*where)) or 0
    if count == 0:
        return 0, [None for _ in quantiles]
    values = []
    for q in quantiles:
        values.append(
            await tx.scalar(
                select(column)
                .where(*where)
                .order_by(column)
                .offset(max(0, math.ceil(q * count) - 1))
                .limit(1)
            )
        )
    return count, values
