"""The event system's settings: the bus, the relays and the consumers."""

from __future__ import annotations

from dataclasses import dataclass

from ..setting import Duration, Integer, Milliseconds, setting
from ..settings import REDIS_URL


@dataclass(frozen=True)
class EventsSettings:
    bus_url: str | None = setting(
        "BUS_URL",
        None,
        REDIS_URL,
        "`redis://…`: the event bus is Redis Streams (consumer groups); set it when several "
        "processes run",
        secret=True,
        default_text="unset: in-process",
    )
    batch_size: int = setting(
        "EVENTS_BATCH_SIZE",
        500,
        Integer(1),
        "outbox rows a relay claims and publishes at once; a consumer applies each batch in "
        "one transaction",
    )
    lease_s: int = setting(
        "EVENTS_LEASE",
        30,
        Duration(),
        "how long a relay's claim on rows holds; a dead relay's rows are published again after it",
    )
    poll_s: float = setting(
        "EVENTS_POLL_MS",
        0.5,
        Milliseconds(10),
        "how often a relay looks for rows no commit in its own process woke it for",
    )
    retention_s: int = setting(
        "EVENTS_RETENTION",
        7 * 86_400,
        Duration(),
        "published events stay in their outbox this long (for `bulkhead analytics rebuild`), "
        "then are purged",
    )
    dead_letter_retention_s: int = setting(
        "EVENTS_DEAD_LETTER_RETENTION",
        30 * 86_400,
        Duration(),
        "dead letters (whole events, resolved or not) are purged after this long",
    )
    max_attempts: int = setting(
        "EVENTS_MAX_ATTEMPTS",
        5,
        Integer(1),
        "attempts per event and consumer before it is dead-lettered",
    )
    backoff_s: float = setting(
        "EVENTS_BACKOFF_MS", 0.1, Milliseconds(), "the first retry's delay; it doubles per attempt"
    )
    bus_claim_idle_s: int = setting(
        "BUS_CLAIM_IDLE",
        30,
        Duration(),
        "Redis Streams: entries a consumer took and left unacknowledged this long are claimed "
        "by another",
    )
