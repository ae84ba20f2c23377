"""Sliding-window rate limit per tool, client and user, kept in the `rate_limits` table.

The sliding-window counter: calls in the current fixed window plus the previous window's
calls weighted by how much of it still overlaps the sliding window. Two rows per key at
most, exact enough, and the same answer for every worker because it lives in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tools import RateLimit

from .models import RateLimitRow

REFUSALS = "(refused)"  # the key refused calls count under, whatever tool they named


async def take_call(
    tx: AsyncSession,
    *,
    dialect: str,
    tool_name: str,
    client_id: str,
    user_id: str,
    limit: RateLimit,
    now: datetime,
) -> float | None:
    """Count one call, or return the seconds until one would fit (and count nothing).

    Runs inside the caller's write transaction: SQLite holds the database write lock;
    PostgreSQL locks the key's current window row, so concurrent workers queue on it.
    """
    window = timedelta(seconds=limit.window_s)
    start = _window_start(now, limit.window_s)
    key = (
        RateLimitRow.tool_name == tool_name,
        RateLimitRow.client_id == client_id,
        RateLimitRow.user_id == user_id,
    )
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await tx.execute(
        insert(RateLimitRow)
        .values(
            tool_name=tool_name,
            client_id=client_id,
            user_id=user_id,
            window_start=start,
            count=0,
        )
        .on_conflict_do_nothing()
    )
    current = await tx.scalar(
        select(RateLimitRow).where(*key, RateLimitRow.window_start == start).with_for_update()
    )
    assert current is not None
    previous = await tx.scalar(
        select(RateLimitRow.count).where(*key, RateLimitRow.window_start == start - window)
    )
    elapsed = (now - start) / window
    wait = _seconds_until_room(previous or 0, current.count, limit, elapsed)
    if wait is not None:
        return wait
    current.count += 1
    await tx.execute(delete(RateLimitRow).where(*key, RateLimitRow.window_start < start - window))
    return None


def _seconds_until_room(
    previous: int, current: int, limit: RateLimit, elapsed: float
) -> float | None:
    """None when one more call fits now; else the wait until the estimate lets one in."""
    room = limit.calls - 1  # the estimate must be at most this before the call
    if previous * (1 - elapsed) + current <= room:
        return None
    if current <= room and previous > 0:
        # Still in this window, once enough of the previous one has slid out.
        fraction = 1 - (room - current) / previous
        return (fraction - elapsed) * limit.window_s
    # Only in the next window, once enough of this one has slid out.
    fraction = max(0.0, 1 - room / current)
    return (1 - elapsed + fraction) * limit.window_s


def _window_start(now: datetime, window_s: int) -> datetime:
    seconds = int(now.timestamp()) // window_s * window_s
    return datetime.fromtimestamp(seconds, UTC)
