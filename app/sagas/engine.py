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
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from app.kernel.columns import utcnow
from app.kernel.database import ModuleDatabase
from app.kernel.events import Outbox
from app.kernel.settings import Settings
from app.kernel.telemetry import Attributes, continued
from contracts.errors import ContractError, Unavailable
from contracts.record import Contracts

from .crash_points import crash_point
from .create_session import CREATE_SESSION
from .definition import SagaType, Step, StepCall
from .delete_session import DELETE_SESSION
from .models import EVENT_TABLES, SagaRow, SagaStepRow
from .settings import SagaSettings

logger = logging.getLogger("bulkhead.sagas")
SAGA_TYPES = {t.name: t for t in (CREATE_SESSION, DELETE_SESSION)}
UNFINISHED = ("running", "compensating")
MAX_BACKOFF_S = 5.0


class SagaEngine:
    """The saga store's state, and how one saga is driven one persisted step at a time."""

    def __init__(self, database: ModuleDatabase, settings: Settings, contracts: Contracts) -> None:
        self._db = database.claim("sagas")
        self._outbox = Outbox("sagas", EVENT_TABLES)
        self._settings = settings.of(SagaSettings)
        self._contracts = contracts
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[uuid.UUID, asyncio.Task[SagaRow | None]] = {}
        self._errors: dict[uuid.UUID, ContractError] = {}  # business errors, for the caller
        self._clock: Callable[[], datetime] = utcnow

    def _spawn(self, saga_id: uuid.UUID, row: SagaRow | None = None) -> None:
        """Run the saga in a task of this process; `row`, as just written, spares a read."""
        if saga_id in self._running and not self._running[saga_id].done():
            return
        task = asyncio.create_task(self._drive(saga_id, row))
        self._running[saga_id] = task
        task.add_done_callback(lambda _: self._running.pop(saga_id, None))

    async def _drive(self, saga_id: uuid.UUID, row: SagaRow | None) -> SagaRow | None:
        """Run the saga until it ends or is no longer ours; the row as last written."""
        try:
            if row is None:
                async with self._db.read() as tx:
                    row = await tx.get(SagaRow, saga_id)
            # Read once: from here on `_save` keeps `row` as it wrote it, and a write
            # that finds the lease taken stops the run.
            while row is not None and row.lease_owner == self._owner and await self._advance(row):
                pass
            return row
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease lapses and another round takes it up again
            logger.exception("saga %s stopped unexpectedly", saga_id)
            return None

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
            attributes: Attributes = {
                "bulkhead.saga_id": str(row.id),
                "bulkhead.attempt": row.attempts + 1,
            }
            with continued(
                f"saga {saga_type.name}: {step.name} ({phase})", row.trace_context, attributes
            ):
                async with asyncio.timeout(self._settings.step_timeout_s):
                    result = await function(call)
        except Exception as exc:  # every failure is recorded; its kind decides what next
            return await self._failed(row, saga_type, step, phase, started, exc)
        crash_point(f"{saga_type.name}:{step.name}:after_{phase}", self._settings.crash_at)
        record = self._record(row, step, phase, started, "succeeded", result=result)
        # The last step's outcome and the saga's end are one write, not two (a saga's
        # transactions are most of what it costs over the calls themselves).
        if forward:
            results = {**row.results, step.name: result}
            done = row.step_index + 1 >= len(saga_type.steps)
            return await self._save(
                row,
                results=results,
                step_index=row.step_index + 1,
                attempts=0,
                record=record,
                **({"state": "succeeded"} if done else {}),
            )
        undone = row.step_index - 1 < 0
        return await self._save(
            row,
            step_index=row.step_index - 1,
            attempts=0,
            record=record,
            **({"state": "compensated"} if undone else {}),
        )

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
