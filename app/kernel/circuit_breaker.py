"""A circuit breaker, one per remote module and one per module database: after `threshold`
failures in a row it opens and calls fail at once; after `open_s` one call is let through
as a probe, which closes it or opens it again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from contracts.errors import Unavailable

State = Literal["closed", "open", "half_open"]


class CircuitOpen(Unavailable):
    """What it guards failed repeatedly; calls fail fast until a probe succeeds."""


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        open_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = threshold
        self._open_s = open_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._probe_started = 0.0

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self._open_s else "open"

    def before_call(self) -> None:
        """Raise `CircuitOpen` unless this call may go out (closed, or the one probe)."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._probe_in_flight():
            self._probing, self._probe_started = True, self._clock()
            return
        opened = self._opened_at if self._opened_at is not None else self._clock()
        wait = max(0.0, self._open_s - (self._clock() - opened))
        raise CircuitOpen(
            f"{self.name} is failing; calls are refused for now",
            details={"remote": self.name},
            retry_after_s=wait or self._open_s,
        )

    def _probe_in_flight(self) -> bool:
        """A probe that has not reported within `open_s` (cancelled, say) is given up on,
        so the breaker never waits forever for it."""
        return self._probing and self._clock() - self._probe_started < self._open_s

    def succeeded(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def failed(self) -> None:
        self._failures += 1
        self._probing = False
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()
