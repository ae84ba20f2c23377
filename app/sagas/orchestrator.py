"""The saga orchestrator: what callers use to run sagas, over the engine, its recovery and
its admin view (`engine.py`, `recovery.py`, `admin.py`), and the user deletions the saga
store records (`user_deletion.py`). It implements `contracts.sagas.SagaAdminAPI`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.kernel.database import ModuleDatabase
from app.kernel.events import ReplaysOutbox
from app.kernel.settings import Settings
from app.kernel.telemetry import current_traceparent
from contracts.errors import ContractError, Unavailable
from contracts.record import Contracts
from contracts.sagas import Saga
from contracts.users import TokenRevocation, UserDeletion

from .admin import SagaAdmin
from .definition import SagaType
from .engine import SAGA_TYPES, UNFINISHED
from .models import SagaRow
from .recovery import SagaRecovery
from .user_deletion import UserDeletionService
from .views import to_saga


class SagasUnavailable(Unavailable):
    """A module a saga calls is not running in this process."""


class SagaOrchestrator(SagaRecovery, SagaAdmin, ReplaysOutbox):
    """Starts sagas, waits for them, and answers with what they made or why they failed."""

    def __init__(self, database: ModuleDatabase, settings: Settings, contracts: Contracts) -> None:
        super().__init__(database, settings, contracts)
        self._users = UserDeletionService(self._db, self._outbox)

    async def start(
        self, saga_type: SagaType, payload: dict[str, Any], request_key: str | None = None
    ) -> uuid.UUID:
        """Persist a new saga, leased to this process, and start running it. A request key
        seen before returns the saga it started."""
        missing = [m for m in saga_type.modules if not self._contracts.runs(m)]
        if missing:
            raise SagasUnavailable(
                f"the {saga_type.name} saga needs the {', '.join(missing)} module(s), "
                "which this process does not run (BULKHEAD_MODULES)"
            )
        if request_key is not None and (found := await self._by_request_key(request_key)):
            return found  # if its process died, the sweep takes it up when the lease lapses
        now = self._clock()
        row = SagaRow(
            id=uuid.uuid4(),
            saga_type=saga_type.name,
            request_key=request_key,
            state="running",
            phase="action",
            payload=payload,
            results={},
            step_index=0,
            attempts=0,
            trace_context=current_traceparent(),
            lease_owner=self._owner,
            lease_expires_at=now + timedelta(seconds=self._settings.lease_s),
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.transaction() as tx:
                tx.add(row)
        except IntegrityError:
            assert request_key is not None
            found = await self._by_request_key(request_key)
            assert found is not None
            return found
        self._spawn(row.id, row)
        return row.id

    async def wait(self, saga_id: uuid.UUID, timeout_s: float) -> Saga:
        """The saga once it has finished, or as it stands when the timeout passes (its step
        history only when read from the store; `get_saga` always has it)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            task = self._running.get(saga_id)
            left = deadline - asyncio.get_running_loop().time()
            if task is not None and left > 0:  # run here: wake when it ends
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), left)
                ended = task.result() if task.done() and not task.cancelled() else None
                if ended is not None and ended.state not in UNFINISHED:
                    # This process wrote its end under its lease: that row is the truth,
                    # and the caller needs no history (the admin view reads it).
                    return to_saga(ended, SAGA_TYPES[ended.saga_type])
            saga = await self.get_saga(saga_id=saga_id)
            if saga.state not in UNFINISHED or asyncio.get_running_loop().time() >= deadline:
                return saga
            await asyncio.sleep(0.05)  # run by another process: look again

    @property
    def contracts(self) -> Contracts:
        """The contracts, for the routes that answer with what a saga made."""
        return self._contracts

    @property
    def request_deadline_s(self) -> float:
        return self._settings.request_deadline_s

    def business_error(self, saga_id: uuid.UUID) -> ContractError | None:
        """The error that made this process compensate the saga, to answer its caller."""
        return self._errors.pop(saga_id, None)

    async def _by_request_key(self, request_key: str) -> uuid.UUID | None:
        async with self._db.read() as tx:
            return await tx.scalar(select(SagaRow.id).where(SagaRow.request_key == request_key))

    async def request_user_deletion(self, *, user_id: str, requested_by: str) -> UserDeletion:
        return await self._users.request_user_deletion(user_id=user_id, requested_by=requested_by)

    async def revoke_tokens(self, *, user_id: str) -> TokenRevocation:
        return await self._users.revoke_tokens(user_id=user_id, at=self._clock())

    async def tokens_valid_after(self, *, user_id: str) -> datetime | None:
        return await self._users.tokens_valid_after(user_id=user_id)

    async def list_user_deletions(self, *, limit: int = 20) -> list[UserDeletion]:
        return await self._users.list_user_deletions(limit=limit)

    async def claim_signin_link(self, *, link_id: str, expires_at: datetime) -> bool:
        return await self._users.claim_signin_link(link_id=link_id, expires_at=expires_at)
