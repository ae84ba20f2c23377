"""Saga rows as the admin API shows them."""

from __future__ import annotations

from contracts.sagas import Saga, SagaStepRecord

from .definition import SagaType
from .models import SagaRow, SagaStepRow


def to_saga(row: SagaRow, saga_type: SagaType, history: list[SagaStepRow] | None = None) -> Saga:
    finished = row.state in ("succeeded", "compensated")
    in_range = 0 <= row.step_index < len(saga_type.steps)
    return Saga(
        id=row.id,
        saga_type=row.saga_type,
        state=row.state,  # type: ignore[arg-type]  # written from a SagaState
        payload=row.payload,
        results=row.results,
        current_step=None if finished or not in_range else saga_type.steps[row.step_index].name,
        attempts=row.attempts,
        last_error=row.last_error,
        error_code=row.error_code,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=None
        if history is None
        else [
            SagaStepRecord(
                step=h.step,
                phase=h.phase,  # type: ignore[arg-type]  # the column holds only Phase values
                attempt=h.attempt,
                outcome=h.outcome,  # type: ignore[arg-type]  # the column holds only outcome values
                started_at=h.started_at,
                finished_at=h.finished_at,
                result=h.result,
                error=h.error,
            )
            for h in history
        ],
    )
