"""Deleting a user: tokens revoked and one event in the saga store's outbox, at once.

Not a saga: no step can fail for a business reason and nothing is ever compensated, so
each module deletes the user's data on its own time, retried by the bus until it has.
The saga store forgets its own part in the same transaction: the user's finished sagas
(their payloads hold session titles and metadata, their request keys the user's
idempotency keys, so a key used again later starts afresh), and what the user wrote from
the unfinished ones. `DELETE /v1/users/me` answers 202 once the request is durable.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.events import Outbox
from contracts.users import TokenRevocation, UserDeletion, UserDeletionRequested

from .models import SagaRow, SagaStepRow, SigninLinkRow
from .token_revocations import revoke, valid_after

FINISHED = ("succeeded", "compensated")
PERSONAL_FIELDS = ("title", "metadata")  # what a user wrote; ids stay for the admin


class UserDeletionService:
    """Deleting users and revoking their tokens, in the saga store's database."""

    def __init__(self, database: ModuleDatabase, outbox: Outbox) -> None:
        self._db = database
        self._outbox = outbox

    async def request_user_deletion(self, *, user_id: str, requested_by: str) -> UserDeletion:
        return await request_user_deletion(
            self._db, self._outbox, user_id=user_id, requested_by=requested_by
        )

    async def revoke_tokens(self, *, user_id: str, at: datetime) -> TokenRevocation:
        async with self._db.transaction() as tx:
            return await revoke(tx, user_id=user_id, at=at, reason="admin")

    async def tokens_valid_after(self, *, user_id: str) -> datetime | None:
        return await valid_after(self._db, user_id)

    async def list_user_deletions(self, *, limit: int) -> list[UserDeletion]:
        outbox = self._outbox.table
        query = (
            select(outbox.c.event_id, outbox.c.user_id, outbox.c.occurred_at)
            .where(outbox.c.type == UserDeletionRequested.TYPE)
            .order_by(outbox.c.id.desc())
            .limit(min(max(limit, 1), 200))
        )
        async with self._db.read() as tx:
            rows = (await tx.execute(query)).all()
        return [
            UserDeletion(deletion_id=event_id, user_id=user_id, requested_at=at)
            for event_id, user_id, at in rows
        ]

    async def claim_signin_link(self, *, link_id: str, expires_at: datetime) -> bool:
        try:
            async with self._db.transaction() as tx:
                # Links past their expiry can never be redeemed again: forget them.
                await tx.execute(delete(SigninLinkRow).where(SigninLinkRow.expires_at < utcnow()))
                tx.add(SigninLinkRow(link_id=link_id, expires_at=expires_at))
        except IntegrityError:
            return False
        return True


async def request_user_deletion(
    database: ModuleDatabase, outbox: Outbox, *, user_id: str, requested_by: str
) -> UserDeletion:
    deletion = UserDeletion(deletion_id=uuid.uuid4(), user_id=user_id, requested_at=utcnow())
    async with database.transaction() as tx:
        await revoke(tx, user_id=user_id, at=deletion.requested_at, reason="user_deleted")
        await forget_sagas(tx, user_id)
        await outbox.add(
            tx,
            UserDeletionRequested(
                user_id=user_id,
                deletion_id=deletion.deletion_id,
                requested_at=deletion.requested_at,
                requested_by=requested_by,
            ),
            occurred_at=deletion.requested_at,
            event_id=deletion.deletion_id,  # so its progress can be looked up by it
        )
    return deletion


async def forget_sagas(tx: AsyncSession, user_id: str) -> None:
    """Finished sagas go with their history; unfinished ones lose what the user wrote."""
    of_user = SagaRow.payload["user_id"].as_string() == user_id
    finished = select(SagaRow.id).where(of_user, SagaRow.state.in_(FINISHED))
    await tx.execute(delete(SagaStepRow).where(SagaStepRow.saga_id.in_(finished)))
    await tx.execute(delete(SagaRow).where(of_user, SagaRow.state.in_(FINISHED)))
    for row in await tx.scalars(select(SagaRow).where(of_user)):
        row.payload = {k: v for k, v in row.payload.items() if k not in PERSONAL_FIELDS}
