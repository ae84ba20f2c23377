"""OpenTelemetry traces: one provider per process, exported over OTLP when configured.

Spans are always recorded (ids for the logs, context for calls to other processes and for
work done later); with no collector configured they are simply not sent anywhere.
Work that outlives its request (a saga's steps, an event's handling) stores the request's
context as a W3C `traceparent` and continues that trace when it runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine

from .settings import TelemetrySettings

TRACER = trace.get_tracer("bulkhead")
TRACEPARENT_LENGTH = 55  # W3C: version-traceid-spanid-flags
DATABASE_TRACERS = "bulkhead.db"
Attributes = Mapping[str, str | int | float | bool]


def configure_tracing(settings: TelemetrySettings, service_name: str) -> None:
    """Install this process's tracer provider, once (a provider already installed, by an
    earlier app in this process or by a test's in-memory exporter, is kept)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)


def flush_traces(timeout_s: float = 5.0) -> None:
    """Send the spans still waiting in their batch (a stopping server's last ones)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(int(timeout_s * 1000))


def current_traceparent() -> str | None:
    """The current span as a `traceparent` to store beside work done later."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def inject_into(headers: MutableMapping[str, str]) -> None:
    """Carry the current trace to another process (the internal RPC)."""
    propagate.inject(headers)


@contextmanager
def continued(
    name: str, traceparent: str | None, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span in the trace `traceparent` came from (a new trace when there is none)."""
    parent = propagate.extract({"traceparent": traceparent} if traceparent else {})
    token = context.attach(parent)
    try:
        with TRACER.start_as_current_span(name, kind=kind, attributes=attributes) as span:
            yield span
    finally:
        context.detach(token)


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def trace_statements(engine: AsyncEngine, module: str) -> None:
    """A span for each statement `engine` runs (SQLAlchemy's OpenTelemetry instrumentation,
    attached to this one engine), from a tracer named for the module (`bulkhead.db.memory`):
    a trace shows whose database each statement went to."""
    usage = metrics.get_meter("bulkhead").create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    tracer = trace.get_tracer(f"{DATABASE_TRACERS}.{module}")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
