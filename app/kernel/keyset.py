"""Newest-first pages over `(created_at, id)`: the listing every module offers.

One place for the page-size rule and the keyset condition, so each listing only says
which rows and in which order of its own columns.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from contracts.errors import InvalidInput

from .cursor import decode_cursor, encode_cursor

MAX_PAGE_LIMIT = 200


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")
    return limit


async def newest_first(
    tx: AsyncSession,
    query: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    id_: InstrumentedAttribute[Any],
    listing: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of `query`'s rows, newest first, and the cursor of the next (None: last).
    Raises `InvalidCursor` for a cursor another listing issued."""
    limit = page_limit(limit)
    query = query.order_by(created_at.desc(), id_.desc()).limit(limit + 1)
    if cursor is not None:
        last_created, last_id = decode_cursor(listing, cursor, (datetime, uuid.UUID))
        query = query.where(
            or_(created_at < last_created, and_(created_at == last_created, id_ < last_id))
        )
    rows = list((await tx.scalars(query)).all())
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    return page, encode_cursor(listing, getattr(last, created_at.key), getattr(last, id_.key))
