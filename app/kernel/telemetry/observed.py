"""Every contract call observed: a span (module, method, outcome) and its latency.

Wraps what callers hold, local service or remote client alike, so a call looks the same
in a trace wherever its module runs; a remote call's span is the parent of the span the
serving process opens for it (the RPC carries the trace).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from contracts.errors import ContractError

from ..in_flight import contract_methods
from .metrics import CONTRACT_CALLS
from .tracing import TRACER


class ObservedService:
    """`service` with each of `contract`'s methods in a span of its own; everything else
    is the service itself."""

    def __init__(self, service: object, module: str, contract: type) -> None:
        self._service = service
        self._wrapped = {
            name: _observed(getattr(service, name), module, name)
            for name in contract_methods(contract)
        }

    def __getattr__(self, name: str) -> Any:
        if name in self._wrapped:
            return self._wrapped[name]
        return getattr(self._service, name)


def _observed(
    method: Callable[..., Coroutine[Any, Any, Any]], module: str, name: str
) -> Callable[..., Coroutine[Any, Any, Any]]:
    attributes = {"bulkhead.module": module, "bulkhead.method": name}

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        with TRACER.start_as_current_span(
            f"{module}.{name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,  # a refusal is the contract's answer; faults are marked below
            set_status_on_exception=False,
        ) as span:
            try:
                return await method(*args, **kwargs)
            except ContractError as exc:  # an answer, not a fault: the caller gets it as is
                outcome = exc.code
                raise
            except BaseException as exc:
                outcome = "error"
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                span.set_attribute("bulkhead.outcome", outcome)
                elapsed = time.perf_counter() - started
                CONTRACT_CALLS.labels(module, name, outcome).observe(elapsed)

    return call
