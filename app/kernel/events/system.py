"""Everything events need in one process: a relay per outbox, the bus, the consumers.

Built by the composition root from the modules that run here. In the background it
relays an outbox as soon as a transaction commits events to it (and every outbox every
`events_poll_s`, for rows other processes left behind), purges what is past retention,
and on Redis reads the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec
from redis.exceptions import RedisError

from contracts.events import Event

from ..columns import utcnow
from ..database import ModuleDatabase
from ..health import ComponentHealth
from ..module import Module
from ..settings import Settings
from .bus import EventBus, InProcessBus
from .consumer import Consumer, ConsumesEvents, FlushesEvents
from .dead_letters import DeadLetter, DeadLetterNotFound
from .outbox import Outbox
from .redis_streams import RedisStreamsBus
from .relay import OutboxStatus, Relay
from .settings import EventsSettings
from .tables import event_tables_of

logger = logging.getLogger("bulkhead.events")
LAG_DEGRADED_S = 60.0  # /health says degraded past this consistency lag
PURGE_EVERY_S = 3_600.0


class EventsStatus(msgspec.Struct, frozen=True, kw_only=True):
    bus: str
    # Now minus the time of the oldest event not yet applied everywhere; 0 when none is.
    consistency_lag_s: float
    outboxes: list[OutboxStatus]
    dead_letters: dict[str, int]  # unresolved, per consumer
    bus_error: str | None = None  # the bus cannot be reached: the lag counts outboxes only


class Bound(Protocol):
    """A module bound to its database, with its service (`app_factory.BoundModule`)."""

    @property
    def module(self) -> Module: ...
    @property
    def database(self) -> ModuleDatabase: ...
    @property
    def service(self) -> Any: ...


def create_bus(settings: Settings) -> EventBus:
    events_settings = settings.of(EventsSettings)
    if events_settings.bus_url:
        return RedisStreamsBus(
            events_settings.bus_url,
            settings.redis_key_prefix,
            claim_idle_s=events_settings.bus_claim_idle_s,
        )
    return InProcessBus()


class EventSystem:
    def __init__(
        self, settings: Settings, sources: Sequence[Bound], bus: EventBus | None = None
    ) -> None:
        self.settings = settings
        self.own = events_settings = settings.of(EventsSettings)
        self.bus = bus or create_bus(settings)
        owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.relays: list[Relay] = []
        self.consumers: dict[str, Consumer] = {}
        self._wake = asyncio.Event()
        # Outboxes that may hold rows to publish, as far as this process knows: those a
        # commit here wrote to, and those whose last batch was not empty. Claiming from
        # an empty outbox costs a transaction; with seven outboxes and one busy, that was
        # most of the relay's time.
        self._due: set[str] = set()
        for source in sources:
            tables = event_tables_of(source.module.metadata)
            if tables is None:
                continue
            outbox = Outbox(source.module.name, tables)
            self.relays.append(
                Relay(
                    outbox,
                    source.database,
                    tables,
                    self.bus,
                    owner=owner,
                    batch_size=events_settings.batch_size,
                    lease_s=events_settings.lease_s,
                )
            )
            source.database.on_events_committed(functools.partial(self._woken, outbox.source))
            if isinstance(source.service, ConsumesEvents):
                consumer = Consumer(
                    source.module.name,
                    source.database,
                    tables,
                    source.service.event_handlers(),
                    max_attempts=events_settings.max_attempts,
                    backoff_s=events_settings.backoff_s,
                    flush=(
                        source.service.flush_events
                        if isinstance(source.service, FlushesEvents)
                        else None
                    ),
                )
                self.consumers[consumer.name] = consumer
                self.bus.subscribe(consumer.name, consumer.deliver_batch)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- running -----------------------------------------------------------------------

    async def start_background(self) -> None:
        self._stopping = False
        await self.bus.start()
        self._task = asyncio.create_task(self._relay_forever())

    async def stop_background(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.bus.stop()

    async def relay_once(self, relays: Sequence[Relay] | None = None) -> int:
        """One batch from every outbox (or these); how many events went out."""
        published = 0
        for relay in self.relays if relays is None else relays:
            try:
                count = await relay.publish_batch()
            except Exception as exc:  # one outbox's trouble must not stop the others
                logger.warning("relay %s: publishing failed (%r); retrying", relay.source, exc)
                continue
            if count:
                self._due.add(relay.source)  # there may be more behind them
            published += count
        return published

    async def drain(self) -> int:
        """Relay until every outbox is empty of claimable rows (tests, CLI, benchmarks)."""
        total = 0
        while published := await self.relay_once():
            total += published
        return total

    async def settle(self, timeout_s: float = 30.0) -> None:
        """Return once every event written so far is applied by every consumer: relays
        here (unless the background relay does), and waits for what other relays (or the
        Redis readers) hold."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self._task is None or self._task.done():
                await self.drain()
            outboxes = await asyncio.gather(*(r.status() for r in self.relays))
            left = [o for o in outboxes if o.unpublished]
            if not left and await self.bus.oldest_unhandled() is None:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"events did not settle within {timeout_s}s: {left or 'bus'}")
            await asyncio.sleep(0.02)

    def _woken(self, source: str) -> None:
        self._due.add(source)
        self._wake.set()

    async def _relay_forever(self) -> None:
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        every_outbox = True  # at start, and after each quiet poll interval
        while not self._stopping:
            self._wake.clear()
            due = [r for r in self.relays if every_outbox or r.source in self._due]
            self._due.clear()
            await self.relay_once(due)
            if loop.time() - last_purge > PURGE_EVERY_S:
                await self.purge()
                last_purge = loop.time()
            every_outbox = False
            if not self._due:
                # Not `wait_for`: on Python 3.11 it can swallow a cancellation that
                # arrives as the event is set, and shutdown would then wait forever.
                try:
                    async with asyncio.timeout(self.own.poll_s):
                        await self._wake.wait()
                except TimeoutError:
                    every_outbox = True

    async def purge(self, now: datetime | None = None) -> None:
        cutoff = (now or utcnow()) - timedelta(seconds=self.own.retention_s)
        for relay in self.relays:
            try:
                await relay.purge(cutoff)
            except Exception:
                logger.exception("relay %s: purging failed", relay.source)
        # An inbox must outlive every copy of an event that could still be delivered.
        for consumer in self.consumers.values():
            try:
                await consumer.purge(
                    cutoff - timedelta(seconds=self.own.retention_s),
                    dead_letters_before=(now or utcnow())
                    - timedelta(seconds=self.own.dead_letter_retention_s),
                )
            except Exception:
                logger.exception("consumer %s: purging its inbox failed", consumer.name)

    # -- looking -----------------------------------------------------------------------

    async def status(self) -> EventsStatus:
        outboxes = list(await asyncio.gather(*(r.status() for r in self.relays)))
        oldest = [o.oldest_unpublished_at for o in outboxes if o.oldest_unpublished_at]
        bus_error = None
        try:
            if (on_bus := await self.bus.oldest_unhandled()) is not None:
                oldest.append(on_bus)
        except (OSError, RedisError) as exc:
            bus_error = f"{type(exc).__name__}: {exc}"
        lag = max(0.0, (utcnow() - min(oldest)).total_seconds()) if oldest else 0.0
        dead = await asyncio.gather(*(c.unresolved_count() for c in self.consumers.values()))
        return EventsStatus(
            bus=self.bus.kind,
            consistency_lag_s=round(lag, 3),
            outboxes=outboxes,
            dead_letters=dict(zip(self.consumers, dead, strict=True)),
            bus_error=bus_error,
        )

    async def component_health(self) -> dict[str, ComponentHealth]:
        try:
            status = await self.status()
        except Exception as exc:
            return {"relay": ComponentHealth(ok=False, error=f"{type(exc).__name__}: {exc}")}
        dead = sum(status.dead_letters.values())
        return {
            "bus": ComponentHealth(
                ok=status.bus_error is None,
                detail=status.bus,
                error=None if status.bus_error is None else f"unreachable: {status.bus_error}",
            ),
            "consistency_lag": ComponentHealth(
                ok=status.consistency_lag_s <= LAG_DEGRADED_S,
                detail=f"{status.consistency_lag_s}s on the {status.bus} bus",
                error=None
                if status.consistency_lag_s <= LAG_DEGRADED_S
                else f"events wait longer than {LAG_DEGRADED_S:.0f}s to be applied",
            ),
            "dead_letters": ComponentHealth(
                ok=dead == 0,
                detail=f"{dead} unresolved",
                error=None if dead == 0 else "see GET /v1/admin/events/dead-letters",
            ),
        }

    async def progress(self, event_id: uuid.UUID, event_type: type[Event]) -> dict[str, str]:
        """How far each consumer here that handles `event_type` has got with one event."""
        return await self.progress_of(event_id, (event_type.TYPE, event_type.VERSION))

    async def progress_of(self, event_id: uuid.UUID, key: tuple[str, int]) -> dict[str, str]:
        return {
            name: await consumer.state_of(event_id)
            for name, consumer in self.consumers.items()
            if consumer.handles_type(key)
        }

    async def dead_letters(
        self, *, consumer: str | None = None, include_resolved: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        for name, c in self.consumers.items():
            if consumer is None or consumer == name:
                letters += await c.dead_letters(include_resolved=include_resolved, limit=limit)
        return sorted(letters, key=lambda d: d.failed_at, reverse=True)[:limit]

    async def resubmit(self, consumer: str, letter_id: uuid.UUID) -> DeadLetter:
        if consumer not in self.consumers:
            raise DeadLetterNotFound(
                f"no consumer {consumer!r} runs here; known: {', '.join(sorted(self.consumers))}",
                field="consumer",
            )
        return await self.consumers[consumer].resubmit(letter_id)
