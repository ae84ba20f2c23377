"""Every request gets an id: the caller's `X-Request-ID` when it sends a sane one, else a
new one. It is on every log line of the request and in the response's header, and the
request ends in one access line (method, path, status, time; never the query or body)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .logs import REQUEST_ID
from .tracing import current_trace_id

HEADER = "x-request-id"
access = logging.getLogger("bulkhead.access")
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # nothing that could forge a log line


def request_ids(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER.encode()), b"").decode(
            "latin-1"
        )
        request_id = given if _SANE.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before answering
        trace_id = None  # the request's span has ended by the time the access line is written

        async def send_with_id(message: Message) -> None:
            nonlocal status, trace_id
            if message["type"] == "http.response.start":
                status, trace_id = message["status"], current_trace_id()
                MutableScopeHeaders.from_message(message)[HEADER] = request_id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            access.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                elapsed_ms,
                extra={"trace_id": trace_id},
            )
            REQUEST_ID.reset(token)

    return middleware
