"""Recovery: on start and then periodically, take up unfinished sagas whose lease lapsed.

A process serving part of the modules leaves the sagas it cannot finish to one that can.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update

from .engine import SAGA_TYPES, UNFINISHED, SagaEngine, logger
from .models import SagaRow


class SagaRecovery(SagaEngine):
    """Sweeps for sagas other processes left behind, and takes them up."""

    _sweeper: asyncio.Task[None] | None = None

    async def start_background(self) -> None:
        """On start-up: take up every unfinished saga whose lease has lapsed, and keep
        looking for ones other processes leave behind."""
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop_background(self) -> None:
        tasks = [t for t in (self._sweeper, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def resume_unfinished(self) -> list[uuid.UUID]:
        # Only sagas whose every module runs here: a process serving part of the modules
        # must leave the others to a process that can finish them.
        runnable = [
            t.name for t in SAGA_TYPES.values() if all(self._contracts.runs(m) for m in t.modules)
        ]
        if not runnable:
            return []
        now = self._clock()
        claimable = (
            select(SagaRow.id)
            .where(
                SagaRow.saga_type.in_(runnable),
                SagaRow.state.in_(UNFINISHED),
                or_(SagaRow.lease_expires_at.is_(None), SagaRow.lease_expires_at < now),
            )
            .order_by(SagaRow.created_at)
            .limit(100)
        )
        if self._db.dialect == "postgresql":
            claimable = claimable.with_for_update(skip_locked=True)
        async with self._db.transaction() as tx:
            ids = list((await tx.scalars(claimable)).all())
            if ids:
                await tx.execute(
                    update(SagaRow)
                    .where(SagaRow.id.in_(ids))
                    .values(
                        lease_owner=self._owner,
                        lease_expires_at=now + timedelta(seconds=self._settings.lease_s),
                    )
                )
        for saga_id in ids:
            logger.info("resuming saga %s", saga_id)
            self._spawn(saga_id)
        return ids

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.resume_unfinished()
            except Exception:  # the store may be down (health says so): look again later
                logger.exception("could not look for unfinished sagas")
            await asyncio.sleep(self._settings.lease_s / 2)
