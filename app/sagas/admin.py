"""The admin view of the saga store: list, look at one with its history, retry one."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from contracts.sagas import Saga, SagaNotFound, SagaNotRetryable, SagaPage, SagaState

from .engine import SAGA_TYPES, SagaEngine
from .models import SagaRow, SagaStepRow
from .views import to_saga


class SagaAdmin(SagaEngine):
    """What `/v1/admin/sagas` shows and does."""

    async def list_sagas(self, *, state: SagaState | None = None, limit: int = 50) -> SagaPage:
        query = select(SagaRow).order_by(SagaRow.created_at.desc()).limit(min(max(limit, 1), 200))
        if state is not None:
            query = query.where(SagaRow.state == state)
        async with self._db.read() as tx:
            rows = (await tx.scalars(query)).all()
        return SagaPage(items=[to_saga(r, SAGA_TYPES[r.saga_type]) for r in rows])

    async def count_by_state(self) -> dict[str, int]:
        query = select(SagaRow.state, func.count()).group_by(SagaRow.state)
        async with self._db.read() as tx:
            return {state: count for state, count in (await tx.execute(query)).all()}

    async def get_saga(self, *, saga_id: uuid.UUID) -> Saga:
        async with self._db.read() as tx:
            row = await tx.get(SagaRow, saga_id)
            if row is None:
                raise SagaNotFound(f"no saga {saga_id}", field="saga_id")
            history = (
                await tx.scalars(
                    select(SagaStepRow)
                    .where(SagaStepRow.saga_id == saga_id)
                    .order_by(SagaStepRow.started_at)
                )
            ).all()
        return to_saga(row, SAGA_TYPES[row.saga_type], list(history))

    async def retry(self, *, saga_id: uuid.UUID) -> Saga:
        now = self._clock()
        async with self._db.transaction() as tx:
            row = await tx.get(SagaRow, saga_id)
            if row is None:
                raise SagaNotFound(f"no saga {saga_id}", field="saga_id")
            if row.state != "needs_attention":
                raise SagaNotRetryable(
                    f"saga {saga_id} is {row.state}; only needs_attention retries"
                )
            row.state = "running" if row.phase == "action" else "compensating"
            row.attempts, row.updated_at = 0, now
            row.lease_owner = self._owner
            row.lease_expires_at = now + timedelta(seconds=self._settings.lease_s)
        self._spawn(saga_id)
        return await self.get_saga(saga_id=saga_id)
