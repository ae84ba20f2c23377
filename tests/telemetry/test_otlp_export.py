"""With `BULKHEAD_OTLP_ENDPOINT` set, a real server sends its spans to the collector there
(OTLP over HTTP, protobuf); a stand-in collector records what arrives."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app.kernel.auth import create_token
from tests.e2e.test_server import bulkhead, start_server

SECRET = "otlp-test-" + "s" * 40


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_spans_reach_the_configured_collector(tmp_path: Path, collector: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(tmp_path / "var"),
        "BULKHEAD_JWT_SECRET": SECRET,
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        "BULKHEAD_OTLP_ENDPOINT": collector,
    }
    bulkhead(env, "db", "upgrade")
    token = create_token(SECRET, "ana", ttl=timedelta(minutes=5))
    for base in start_server(env, workers=1):  # stopped (and its spans flushed) after
        answer = httpx.get(f"{base}/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
    paths = {path for path, _ in Collector.received}
    assert paths == {"/v1/traces"}, paths
    spans = []
    for _, body in Collector.received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert attributes["service.name"] == "bulkhead"
            spans += [s for scope in resource_spans.scope_spans for s in scope.spans]
    names = {s.name for s in spans}
    assert "conversation.list_sessions" in names, names
    assert "GET /v1/sessions" in names, names
