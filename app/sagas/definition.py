"""What a saga type is: an ordered list of steps, each an idempotent contract call with the
call that undoes it. The orchestrator (`orchestrator.py`) runs any of them durably."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from contracts.record import Contracts


@dataclass(frozen=True)
class StepCall:
    """What a step gets: the contracts, the saga's payload, the results so far, and the
    idempotency key `"{saga_id}:{step}:{action|compensate}"` to pass on."""

    contracts: Contracts
    payload: dict[str, Any]
    results: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class Step:
    name: str
    action: Callable[[StepCall], Awaitable[Any]]  # returns a JSON-able result
    compensation: Callable[[StepCall], Awaitable[None]] | None = None  # None: nothing to undo


@dataclass(frozen=True)
class SagaType:
    name: str
    modules: tuple[str, ...]  # whose contracts its steps call
    steps: tuple[Step, ...]

    def index(self, name: str) -> int:
        return [s.name for s in self.steps].index(name)
