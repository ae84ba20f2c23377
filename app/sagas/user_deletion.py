"""Deleting a user: one event in the saga store's outbox, applied by every module.

Not a saga: no step can fail for a business reason and nothing is ever compensated, so
each module deletes the user's data on its own time, retried by the bus until it has.
`DELETE /v1/users/me` answers 202 once the request is durable.
"""

from __future__ import annotations

import uuid

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.events import Outbox
from contracts.users import UserDeletion, UserDeletionRequested


async def request_user_deletion(
    database: ModuleDatabase, outbox: Outbox, *, user_id: str, requested_by: str
) -> UserDeletion:
    deletion = UserDeletion(deletion_id=uuid.uuid4(), user_id=user_id, requested_at=utcnow())
    async with database.transaction() as tx:
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
