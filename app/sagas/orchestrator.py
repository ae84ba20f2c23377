"""The saga orchestrator: runs saga types durably, one persisted step at a time.

Every step's outcome is written to the saga store before the next begins, so a crash
anywhere leaves a saga that a restart (this process or another) takes up again: forward
while no step has failed, otherwise compensation in reverse. Each call carries the key
`"{saga_id}:{step}:{action|compensate}"`, and the modules answer a repeated key with the
first result, so redoing the step the crash interrupted changes nothing.

Transient errors (`Unavailable`, timeouts) are retried with exponential backoff and
jitter; a business error (any other `ContractError`, e.g. `QuotaExceeded`) starts
compensation at once. A compensation that still fails after its retries leaves the saga
in `needs_attention`, where an admin can retry it.

Only the process holding a saga's lease runs it. Leases are taken with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite writers are serialised anyway) and
renewed at every step; a lease that expires (its process died) is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.events import Outbox
from app.kernel.settings import Settings
from contracts.errors import ContractError, Unavailable
from contracts.events import EventPage
from contracts.record import Contracts
from contracts.sagas import Saga, SagaNotFound, SagaNotRetryable, SagaPage, SagaState
from contracts.users import TokenRevocation, UserDeletion

from . import token_revocations
from .crash_points import crash_point
from .create_session import CREATE_SESSION
from .definition import SagaType, Step, StepCall
from .delete_session import DELETE_SESSION
from .models import EVENT_TABLES, SagaRow, SagaStepRow
from .settings import SagaSettings
from .user_deletion import request_user_deletion
from .views import to_saga

logger = logging.getLogger("bulkhead.sagas")
SAGA_TYPES = {t.name: t for t in (CREATE_SESSION, DELETE_SESSION)}
UNFINISHED = ("running", "compensating")
MAX_BACKOFF_S = 5.0


class SagasUnavailable(Unavailable):
    """A module a saga calls is not running in this process."""


class SagaOrchestrator:
    def __init__(self, database: ModuleDatabase, settings: Settings, contracts: Contracts) -> None:
        self._db = database.claim("sagas")
        self._outbox = Outbox("sagas", EVENT_TABLES)
        self._settings = settings.of(SagaSettings)
        self._contracts = contracts
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._errors: dict[uuid.UUID, ContractError] = {}  # business errors, for the caller
        self._sweeper: asyncio.Task[None] | None = None
        self._clock: Callable[[], datetime] = utcnow

    # -- deleting a user (an event, not a saga) -----------------------------------------

    async def request_user_deletion(self, *, user_id: str, requested_by: str) -> UserDeletion:
        return await request_user_deletion(
            self._db, self._outbox, user_id=user_id, requested_by=requested_by
        )

    async def revoke_tokens(self, *, user_id: str) -> TokenRevocation:
        async with self._db.transaction() as tx:
            return await token_revocations.revoke(
                tx, user_id=user_id, at=self._clock(), reason="admin"
            )

    async def tokens_valid_after(self, *, user_id: str) -> datetime | None:
        return await token_revocations.valid_after(self._db, user_id)

    async def replay_events(self, *, after: int = 0, limit: int = 500) -> EventPage:
        return await self._outbox.replay(self._db, after=after, limit=limit)

    # -- starting and awaiting ---------------------------------------------------------

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
        self._spawn(row.id)
        return row.id

    async def wait(self, saga_id: uuid.UUID, timeout_s: float) -> Saga:
        """The saga once it has finished, or as it stands when the timeout passes."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            task = self._running.get(saga_id)
            left = deadline - asyncio.get_running_loop().time()
            if task is not None and left > 0:  # run here: wake when it ends
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), left)
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

    # -- the admin view ----------------------------------------------------------------

    async def list_sagas(self, *, state: SagaState | None = None, limit: int = 50) -> SagaPage:
        query = select(SagaRow).order_by(SagaRow.created_at.desc()).limit(min(max(limit, 1), 200))
        if state is not None:
            query = query.where(SagaRow.state == state)
        async with self._db.read() as tx:
            rows = (await tx.scalars(query)).all()
        return SagaPage(items=[to_saga(r, SAGA_TYPES[r.saga_type]) for r in rows])

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

    # -- recovery ----------------------------------------------------------------------

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

    # -- driving one saga --------------------------------------------------------------

    def _spawn(self, saga_id: uuid.UUID) -> None:
        if saga_id in self._running and not self._running[saga_id].done():
            return
        task = asyncio.create_task(self._drive(saga_id))
        self._running[saga_id] = task
        task.add_done_callback(lambda _: self._running.pop(saga_id, None))

    async def _drive(self, saga_id: uuid.UUID) -> None:
        try:
            async with self._db.read() as tx:
                row = await tx.get(SagaRow, saga_id)
            # Read once: from here on `_save` keeps `row` as it wrote it, and a write
            # that finds the lease taken stops the run.
            while row is not None and row.lease_owner == self._owner and await self._advance(row):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease lapses and another round takes it up again
            logger.exception("saga %s stopped unexpectedly", saga_id)

    async def _advance(self, row: SagaRow) -> bool:
        """Do one attempt of the saga's current step; False when there is nothing to do."""
        if row.state not in UNFINISHED:
            return False
        saga_type = SAGA_TYPES[row.saga_type]
        if row.state == "running" and row.step_index >= len(saga_type.steps):
            return await self._save(row, state="succeeded")
        if row.state == "compensating" and row.step_index < 0:
            return await self._save(row, state="compensated")
        step = saga_type.steps[row.step_index]
        if row.state == "compensating" and step.compensation is None:
            return await self._save(row, step_index=row.step_index - 1, attempts=0)
        return await self._attempt(row, saga_type, step)

    async def _attempt(self, row: SagaRow, saga_type: SagaType, step: Step) -> bool:
        forward = row.state == "running"
        phase = "action" if forward else "compensation"
        key = f"{row.id}:{step.name}:{'action' if forward else 'compensate'}"
        call = StepCall(self._contracts, row.payload, row.results, key)
        function = step.action if forward else step.compensation
        if function is None:
            raise RuntimeError("_advance skips steps without a compensation")
        crash_point(f"{saga_type.name}:{step.name}:before_{phase}", self._settings.crash_at)
        started = self._clock()
        try:
            # `timeout`, not `wait_for`: on 3.11 the latter can swallow a shutdown's cancel.
            async with asyncio.timeout(self._settings.step_timeout_s):
                result = await function(call)
        except Exception as exc:  # every failure is recorded; its kind decides what next
            return await self._failed(row, saga_type, step, phase, started, exc)
        crash_point(f"{saga_type.name}:{step.name}:after_{phase}", self._settings.crash_at)
        record = self._record(row, step, phase, started, "succeeded", result=result)
        if forward:
            results = {**row.results, step.name: result}
            return await self._save(
                row, results=results, step_index=row.step_index + 1, attempts=0, record=record
            )
        return await self._save(row, step_index=row.step_index - 1, attempts=0, record=record)

    async def _failed(
        self,
        row: SagaRow,
        saga_type: SagaType,
        step: Step,
        phase: str,
        started: datetime,
        exc: Exception,
    ) -> bool:
        message = f"{type(exc).__name__}: {exc}"
        record = self._record(row, step, phase, started, "failed", error=message)
        transient = isinstance(exc, Unavailable | TimeoutError | OSError)
        attempts = row.attempts + 1
        business = phase == "action" and isinstance(exc, ContractError) and not transient
        if not business and attempts < self._settings.max_attempts:
            await self._save(row, attempts=attempts, last_error=message, record=record)
            await asyncio.sleep(self._backoff(attempts))
            return True
        if phase == "compensation" or not any(s.compensation for s in saga_type.steps):
            # Undoing failed, or there is nothing to undo: a person has to look.
            logger.error("saga %s needs attention: %s at %s", row.id, message, step.name)
            return await self._save(
                row, state="needs_attention", attempts=attempts, last_error=message, record=record
            )
        if business and isinstance(exc, ContractError):
            self._errors[row.id] = exc
            while len(self._errors) > 1000:  # callers that never asked (a 202) leave theirs
                self._errors.pop(next(iter(self._errors)))
        return await self._save(
            row,
            state="compensating",
            phase="compensation",
            step_index=row.step_index - 1,  # this step did not happen; undo the ones before
            attempts=0,
            last_error=message,
            error_code=type(exc).__name__ if business else "RetriesExhausted",
            record=record,
        )

    def _backoff(self, attempts: int) -> float:
        ceiling = min(MAX_BACKOFF_S, self._settings.backoff_s * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter, not secrecy

    def _record(
        self,
        row: SagaRow,
        step: Step,
        phase: str,
        started: datetime,
        outcome: str,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> SagaStepRow:
        return SagaStepRow(
            id=uuid.uuid4(),
            saga_id=row.id,
            step=step.name,
            phase=phase,
            attempt=row.attempts + 1,
            outcome=outcome,
            result=result,
            error=error,
            started_at=started,
            finished_at=self._clock(),
        )

    async def _save(
        self, row: SagaRow, *, record: SagaStepRow | None = None, **changes: Any
    ) -> bool:
        """Write the saga's progress (and the attempt's history) if we still hold its
        lease, renewing it; False when the saga is finished or no longer ours."""
        now = self._clock()
        values = {
            **changes,
            "updated_at": now,
            "lease_expires_at": now + timedelta(seconds=self._settings.lease_s),
        }
        async with self._db.transaction() as tx:
            result = await tx.execute(
                update(SagaRow)
                .where(SagaRow.id == row.id, SagaRow.lease_owner == self._owner)
                .values(**values)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
                return False
            if record is not None:
                tx.add(record)
        for name, value in values.items():
            setattr(row, name, value)
        return row.state in UNFINISHED

    async def _by_request_key(self, request_key: str) -> uuid.UUID | None:
        async with self._db.read() as tx:
            return await tx.scalar(select(SagaRow.id).where(SagaRow.request_key == request_key))
