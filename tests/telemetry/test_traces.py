"""One request, one trace: across modules, across a saga's steps and the events they
write, and across processes over the internal RPC."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.kernel.telemetry import TRACER
from app.main import create_app
from app.modules.billing.service import BillingService
from tests.over_the_wire import contract_under_test

Auth = Callable[..., dict[str, str]]


def trace_of(spans: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and s.context.trace_id == trace_id
    ]


def assert_connected(found: list[ReadableSpan]) -> None:
    """Every span's parent is in the trace too, but for the one root."""
    ids = {s.context.span_id for s in found if s.context is not None}
    roots = [s for s in found if s.parent is None or s.parent.span_id not in ids]
    assert len(roots) == 1, [(s.name, s.parent) for s in roots]


async def test_a_saga_across_three_modules_is_one_connected_trace(
    settings: Settings, auth: Auth, spans: InMemorySpanExporter
) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        created = await client.post("/v1/sessions", json={"title": "traced"}, headers=auth("ana"))
        assert created.status_code == 201, created.text
        (request,) = [
            s
            for s in spans.get_finished_spans()
            if s.kind == SpanKind.SERVER
            and s.attributes
            and s.attributes.get("http.method") == "POST"
        ]
        assert request.context is not None
        trace_id = request.context.trace_id
        # The events the steps wrote are handled later, by the relay and the consumers.
        for _ in range(100):
            handled = [s for s in trace_of(spans, trace_id) if s.kind == SpanKind.CONSUMER]
            if handled:
                break
            await asyncio.sleep(0.1)

    found = trace_of(spans, trace_id)
    names = [s.name for s in found]
    steps = [n for n in names if n.startswith("saga create_session: ")]
    assert len(steps) == 3, names
    modules = {
        s.attributes["bulkhead.module"]
        for s in found
        if s.attributes and "bulkhead.module" in s.attributes
    }
    assert {"conversation", "memory", "billing"} <= modules, modules
    outcomes = {
        s.attributes.get("bulkhead.outcome")
        for s in found
        if s.attributes and "bulkhead.method" in s.attributes
    }
    assert outcomes == {"ok"}
    # Statements in each module's own database, named by the module's tracer.
    databases = {
        s.instrumentation_scope.name.removeprefix("bulkhead.db.")
        for s in found
        if s.instrumentation_scope and s.instrumentation_scope.name.startswith("bulkhead.db.")
    }
    assert {"conversation", "memory", "billing", "sagas"} <= databases, databases
    assert handled, "no event handling joined the request's trace"
    assert_connected(found)


async def test_a_remote_call_continues_the_callers_trace(
    sqlite_settings: Settings, migrated_sqlite: Path, spans: InMemorySpanExporter
) -> None:
    """The billing module served by a real server (its own thread and event loop): only
    the RPC's headers can carry the trace across."""
    shutil.copytree(migrated_sqlite, sqlite_settings.data_dir)
    database = open_module_database("billing", sqlite_settings)
    service = BillingService(database, sqlite_settings)
    remote = contract_under_test("over-http", "billing", service, database, sqlite_settings)
    async with remote as billing:
        with TRACER.start_as_current_span("caller") as caller:
            await billing.get_quota(user_id="ana")

    root = caller.get_span_context()
    found = trace_of(spans, root.trace_id)
    served = [s for s in found if s.kind == SpanKind.SERVER]
    assert served, [s.name for s in spans.get_finished_spans()]
    assert served[0].parent is not None and served[0].parent.span_id == root.span_id
    assert any("db.statement" in (s.attributes or {}) for s in found)  # the server's query
