"""Where traces go and how log lines look."""

from __future__ import annotations

from dataclasses import dataclass

from ..setting import Choice, Text, Url, setting


@dataclass(frozen=True)
class TelemetrySettings:
    otlp_endpoint: str | None = setting(
        "OTLP_ENDPOINT",
        None,
        Url(("http", "https")),
        "an OpenTelemetry collector's OTLP/HTTP base URL, e.g. `http://otel-collector:4318`; "
        "traces are exported there (none are, when unset)",
    )
    service_name: str = setting(
        "SERVICE_NAME",
        "bulkhead",
        Text(r"[A-Za-z0-9_.-]{1,64}", "use letters, digits, _.-"),
        "`service.name` of this process's traces (the service's name once split)",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "json",
        Choice(("json", "text")),
        "`json`: one JSON object per line, with request and trace ids; `text` for a terminal",
    )
