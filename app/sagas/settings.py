"""The saga orchestrator's settings."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.setting import Duration, Integer, Milliseconds, Text, setting


@dataclass(frozen=True)
class SagaSettings:
    max_attempts: int = setting(
        "SAGA_MAX_ATTEMPTS",
        5,
        Integer(1),
        "attempts per saga step (actions and compensations) before compensating / needing "
        "attention",
    )
    backoff_s: float = setting(
        "SAGA_BACKOFF_MS",
        0.2,
        Milliseconds(),
        "the first retry's delay; it doubles per attempt, with jitter, up to 5 s",
    )
    step_timeout_s: int = setting(
        "SAGA_STEP_TIMEOUT",
        10,
        Duration(),
        "one contract call of a saga step; past it the attempt counts as a transient failure",
    )
    request_deadline_s: int = setting(
        "SAGA_REQUEST_DEADLINE",
        5,
        Duration(),
        "how long `POST /v1/sessions` waits for its saga before answering 202 with the saga id",
    )
    lease_s: int = setting(
        "SAGA_LEASE",
        15,
        Duration(),
        "how long a process holds a saga between steps; a dead process's sagas are taken over "
        "after it",
    )
    crash_at: str | None = setting(
        "SAGA_CRASH_AT",
        None,
        Text(),
        "tests only: a crash point (`create_session:initialize_memory:after_action`) where the "
        "process ends abruptly",
    )
