"""What an operator watches: traces (OpenTelemetry), metrics (Prometheus), JSON logs."""

from __future__ import annotations

from .logs import logging_config
from .metrics import EVENTS_HANDLED, SANDBOX_RUNS
from .observed import ObservedService
from .request_ids import request_ids
from .settings import TelemetrySettings
from .tracing import (
    TRACER,
    Attributes,
    configure_tracing,
    continued,
    current_traceparent,
    inject_into,
)

__all__ = [
    "EVENTS_HANDLED",
    "SANDBOX_RUNS",
    "TRACER",
    "Attributes",
    "ObservedService",
    "TelemetrySettings",
    "configure_tracing",
    "continued",
    "current_traceparent",
    "inject_into",
    "logging_config",
    "request_ids",
]
