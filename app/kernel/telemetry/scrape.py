"""`GET /metrics` (admins): Prometheus's text format, with the state gauges read fresh.

On the API's own port behind an admin token rather than on a port of its own: one port
to expose, and `--workers` processes cannot share a second one. Prometheus sends the
token from a file (`authorization.credentials_file`). Each worker counts its own requests
and calls, so with several workers a scrape sees one worker's counters.
"""

from __future__ import annotations

import logging
from typing import get_args

from litestar import Controller, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy.pool import QueuePool

from contracts.record import Contracts
from contracts.sagas import SagaState

from ..auth import requires_admin
from ..columns import utcnow
from ..events.system import EventsStatus
from .metrics import (
    CONSISTENCY_LAG,
    DEAD_LETTERS,
    OUTBOX_BACKLOG,
    POOL_CONNECTIONS,
    REMOTE_BREAKER,
    SAGAS,
)

logger = logging.getLogger("bulkhead.metrics")
SAGA_STATES: tuple[SagaState, ...] = get_args(SagaState)


class MetricsController(Controller):
    path = "/metrics"
    guards = [requires_admin]
    include_in_schema = False

    @get()
    async def metrics(self, state: State) -> Response[bytes]:
        await _read_state(state)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _read_state(state: State) -> None:
    """Each part on its own: one that cannot be read leaves its gauges as they were."""
    for module, database in state["databases"].items():
        pool = database.engine.pool
        if isinstance(pool, QueuePool):
            POOL_CONNECTIONS.labels(module, "in_use").set(pool.checkedout())
            POOL_CONNECTIONS.labels(module, "idle").set(pool.checkedin())
    for remote in state["rpc_remotes"]:
        REMOTE_BREAKER.labels(remote.module).set(0 if remote.breaker.state == "closed" else 1)
    contracts: Contracts = state["contracts"]
    try:
        if contracts.runs("sagas"):
            counts = await contracts.sagas.count_by_state()
            for saga_state in SAGA_STATES:
                SAGAS.labels(saga_state).set(counts.get(saga_state, 0))
        if (events := state.get("events")) is not None:
            _events(await events.status())
    except Exception:  # a scrape must answer: the log says what could not be read
        logger.warning("metrics: a state could not be read", exc_info=True)


def _events(status: EventsStatus) -> None:
    now = utcnow()
    for outbox in status.outboxes:
        OUTBOX_BACKLOG.labels(outbox.source).set(outbox.unpublished)
        oldest = outbox.oldest_unpublished_at
        CONSISTENCY_LAG.labels(outbox.source).set(
            (now - oldest).total_seconds() if oldest is not None else 0
        )
    for consumer, count in status.dead_letters.items():
        DEAD_LETTERS.labels(consumer).set(count)
