"""Where traces go and how log lines look."""

from __future__ import annotations

from dataclasses import dataclass

from ..setting import Choice, Url, setting


@dataclass(frozen=True)
class TelemetrySettings:
    otlp_endpoint: str | None = setting(
        "OTLP_ENDPOINT",
        None,
        Url(("http", "https")),
        "an OpenTelemetry collector's OTLP/HTTP base URL, e.g. `http://otel-collector:4318`; "
        "traces are exported there (none are, when unset)",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "json",
        Choice(("json", "text")),
        "`json`: one JSON object per line, with request and trace ids; `text` for a terminal",
    )
