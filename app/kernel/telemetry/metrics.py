"""Prometheus metrics of this process, beside the per-route request metrics Litestar's
Prometheus middleware keeps. Counters and histograms are updated as things happen;
gauges of state kept elsewhere (sagas, outboxes, pools, breakers) are read on each scrape.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONTRACT_CALLS = Histogram(
    "bulkhead_contract_call_seconds",
    "Contract calls by module, method and outcome (`ok` or the error's code)",
    ["module", "method", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SANDBOX_RUNS = Counter(
    "bulkhead_sandbox_runs",
    "Tool calls by how they ended (a run's status or a refusal)",
    ["status"],
)
EVENTS_HANDLED = Counter(
    "bulkhead_events_handled", "Events handled by consumer and outcome", ["consumer", "outcome"]
)
POOL_CONNECTIONS = Gauge(
    "bulkhead_db_pool_connections",
    "Connections of each module's pool: `in_use` and `idle` (PostgreSQL pools)",
    ["module", "state"],
)
SAGAS = Gauge("bulkhead_sagas", "Sagas by state", ["state"])
OUTBOX_BACKLOG = Gauge(
    "bulkhead_outbox_backlog", "Events written and not yet published, per module", ["module"]
)
CONSISTENCY_LAG = Gauge(
    "bulkhead_consistency_lag_seconds",
    "Age of the oldest event a module has not yet published (0 when none waits)",
    ["module"],
)
DEAD_LETTERS = Gauge(
    "bulkhead_dead_letters", "Dead letters waiting for an admin, per consumer", ["consumer"]
)
REMOTE_BREAKER = Gauge(
    "bulkhead_remote_breaker_open",
    "1 while the circuit breaker of a remote module is open (or half-open), else 0",
    ["module"],
)
