"""Log lines as JSON objects, each with the request id and trace id it was written under.

Litestar hands records to a queue and formats them on another thread, where the
request's context is gone: `RequestContext` stamps the ids on each record as it is
logged, on the caller's thread, and the formatter reads them from the record.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.logging import LoggingConfig

from .tracing import current_trace_id

REQUEST_ID: ContextVar[str | None] = ContextVar("bulkhead_request_id", default=None)
TEXT_FORMAT = "%(levelname)s %(asctime)s %(name)s [%(request_id)s %(trace_id)s] %(message)s"


class RequestContext(logging.Filter):
    """Stamps the ids of the context a record is logged in (unless it carries its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        if getattr(record, "trace_id", None) is None:
            record.trace_id = current_trace_id()
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(level: str, log_format: str) -> LoggingConfig:
    formatter = {"()": JsonLines} if log_format == "json" else {"format": TEXT_FORMAT}
    return LoggingConfig(
        root={"level": level, "handlers": ["queue_listener"]},
        filters={"request_context": {"()": RequestContext}},
        formatters={"standard": formatter},
        handlers={
            "queue_listener": {
                "class": "litestar.logging.standard.QueueListenerHandler",
                "level": "DEBUG",
                "formatter": "standard",
                "filters": ["request_context"],
            }
        },
        loggers={
            # The MCP SDK notes every stateless request's end at INFO: noise, not news.
            "mcp": {"level": "WARNING", "propagate": True},
        },
        # Our 500 handler logs the traceback with the request id; Litestar need not repeat it.
        log_exceptions="never",
    )
