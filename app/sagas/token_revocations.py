"""Revoked tokens: per user, a time at or before which their tokens no longer count.

One row per user, read by the auth check on every request of every worker (a primary-key
lookup). JWTs carry their issue time in whole seconds, so a token minted in the same
second as a revocation is refused too: the safe side.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import ModuleDatabase
from contracts.users import TokenRevocation

from .models import TokenRevocationRow


async def revoke(tx: AsyncSession, *, user_id: str, at: datetime, reason: str) -> TokenRevocation:
    row = await tx.get(TokenRevocationRow, user_id)
    if row is None:
        row = TokenRevocationRow(user_id=user_id, revoked_before=at, reason=reason)
        tx.add(row)
    else:
        row.revoked_before, row.reason = max(row.revoked_before, at), reason
    return TokenRevocation(user_id=user_id, revoked_before=row.revoked_before, reason=reason)


async def valid_after(database: ModuleDatabase, user_id: str) -> datetime | None:
    async with database.read() as tx:
        found: datetime | None = await tx.scalar(
            select(TokenRevocationRow.revoked_before).where(TokenRevocationRow.user_id == user_id)
        )
    return found
