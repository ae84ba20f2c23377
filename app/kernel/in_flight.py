"""Capacity bulkheads: each module takes at most so many calls at once.

A module's slow calls (searches waiting on the embedder, tool runs waiting on a sandbox)
must not take the worker with them. Every call into a module's contract, from its routes,
from another module, a saga or another process, holds one of that module's slots; when all
are taken the call is refused at once with `ModuleBusy` (503 and `Retry-After`), so a flood
of one kind of call queues nowhere and the other modules' routes keep their latency.
Background work (event handlers, the saga sweep) calls the service directly and is not
counted: it already runs one batch at a time.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from contracts.errors import Unavailable


class ModuleBusy(Unavailable):
    """Every slot of the module is taken: retry in a moment."""


class InFlightLimit:
    def __init__(self, module: str, limit: int) -> None:
        self.module = module
        self.limit = limit
        self.in_flight = 0

    def take(self) -> None:
        if self.in_flight >= self.limit:
            raise ModuleBusy(
                f"the {self.module} module is taking {self.limit} calls at once, its most; "
                "retry in a moment (its other callers and every other module still answer)",
                details={"module": self.module, "limit": self.limit},
                retry_after_s=1.0,
            )
        self.in_flight += 1

    def give_back(self) -> None:
        self.in_flight -= 1


def contract_methods(contract: type) -> frozenset[str]:
    return frozenset(
        name
        for name, member in inspect.getmembers(contract)
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    )


class LimitedService:
    """`service` as its contract's callers see it: each contract method takes a slot of
    `limit` for as long as it runs; everything else is the service itself."""

    def __init__(self, service: object, contract: type, limit: InFlightLimit) -> None:
        self._service = service
        self.in_flight_limit = limit
        # Wrapped once here, not on every call: each call is on a hot path.
        self._wrapped = {
            name: _holding_a_slot(getattr(service, name), limit)
            for name in contract_methods(contract)
        }

    def __getattr__(self, name: str) -> Any:
        if name in self._wrapped:
            return self._wrapped[name]
        return getattr(self._service, name)


def _holding_a_slot(
    method: Callable[..., Coroutine[Any, Any, Any]], limit: InFlightLimit
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        limit.take()
        try:
            return await method(*args, **kwargs)
        finally:
            limit.give_back()

    return call
