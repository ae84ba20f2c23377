"""Spans of the code under test, caught by OpenTelemetry's in-memory exporter.

A process has one tracer provider for good; the exporter is attached to it once and
records only while a test holds the `spans` fixture, so the rest of the suite's spans
are not kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.kernel.telemetry import TelemetrySettings, configure_tracing


class WhileArmed(SimpleSpanProcessor):
    armed = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.armed:
            super().on_end(span)


_EXPORTER = InMemorySpanExporter()
_PROCESSOR = WhileArmed(_EXPORTER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing(TelemetrySettings(), "bulkhead-tests")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not getattr(provider, "_bulkhead_test_exporter", False):
        provider.add_span_processor(_PROCESSOR)
        provider._bulkhead_test_exporter = True  # type: ignore[attr-defined]
    _EXPORTER.clear()
    _PROCESSOR.armed = True
    try:
        yield _EXPORTER
    finally:
        _PROCESSOR.armed = False
        _EXPORTER.clear()
