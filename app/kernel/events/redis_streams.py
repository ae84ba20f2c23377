"""The event bus on Redis Streams: one stream, one consumer group per consuming module.

A consumer acknowledges an entry only after it is applied (or dead-lettered), so an entry
a dead process was holding stays pending; live consumers claim pending entries that have
sat idle longer than `claim_idle_s` (XAUTOCLAIM) and apply them, once, thanks to the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from contracts.events import EventEnvelope

from .bus import Deliver

logger = logging.getLogger("bulkhead.events")
_decode = msgspec.json.Decoder(EventEnvelope).decode
_encode = msgspec.json.encode
_FIELD = b"envelope"
# Entries read at once, as many as a relay publishes at once (EVENTS_BATCH_SIZE's default):
# a consumer applies what it reads in one transaction (bench/events.py).
READ_COUNT = 500
BLOCK_MS = 1_000
# Approximate cap on the stream's length. Published events stay in their outbox for the
# retention period, so the stream is a transport, not the record.
MAX_STREAM_LENGTH = 1_000_000


class RedisStreamsBus:
    kind = "redis-streams"

    def __init__(
        self,
        url: str,
        key_prefix: str,
        *,
        claim_idle_s: float = 30.0,
        consumer_name: str | None = None,
    ) -> None:
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=BLOCK_MS / 1000 + 5
        )
        self.stream = f"{key_prefix}:events"
        self._claim_idle_ms = int(claim_idle_s * 1000)
        # Unique per process: a restarted process must not inherit the dead one's entries
        # silently; it claims them like anyone else once they have been idle long enough.
        self.consumer = (
            consumer_name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self._groups: dict[str, Deliver] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._stopping = False

    def subscribe(self, group: str, deliver: Deliver) -> None:
        self._groups[group] = deliver

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for envelope in envelopes:
                pipe.xadd(
                    self.stream,
                    {_FIELD: _encode(envelope)},
                    maxlen=MAX_STREAM_LENGTH,
                    approximate=True,
                )
            await pipe.execute()

    async def start(self) -> None:
        # Readers create their groups themselves, retrying: Redis being down when the
        # server starts must not stop it (the outboxes keep the events meanwhile).
        self._stopping = False
        for group, deliver in self._groups.items():
            self._readers.append(asyncio.create_task(self._read_forever(group, deliver)))

    async def create_group(self, group: str) -> None:
        """A new group starts at the stream's beginning: it sees what is still retained."""
        try:
            await self._client.xgroup_create(self.stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def stop(self) -> None:
        # The flag as well as the cancel: a cancel that lands inside redis-py's read can
        # come out as a RedisError, which the reader's loop retries (a test's `stop()`
        # once waited on it for fifteen minutes).
        self._stopping = True
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._readers.clear()
        await self._client.aclose()

    async def consume_once(self, group: str, deliver: Deliver, *, block_ms: int = BLOCK_MS) -> int:
        """Reclaim what dead consumers left idle, then read new entries; return how many
        were handled."""
        handled = 0
        claimed: Any = await self._client.xautoclaim(
            self.stream, group, self.consumer, self._claim_idle_ms, start_id="0-0", count=READ_COUNT
        )
        handled += await self._handle(group, deliver, claimed[1])
        answer: Any = await self._client.xreadgroup(
            group, self.consumer, {self.stream: ">"}, count=READ_COUNT, block=block_ms
        )
        for _stream, entries in answer or ():
            handled += await self._handle(group, deliver, entries)
        return handled

    async def _handle(
        self, group: str, deliver: Deliver, entries: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> int:
        if not entries:
            return 0
        # A trimmed entry comes back empty: nothing to apply, only to acknowledge.
        await deliver([_decode(fields[_FIELD]) for _, fields in entries if fields])
        await self._client.xack(self.stream, group, *(entry_id for entry_id, _ in entries))
        return len(entries)

    async def _read_forever(self, group: str, deliver: Deliver) -> None:
        grouped = False
        while not self._stopping:
            try:
                if not grouped:
                    await self.create_group(group)
                    grouped = True
                await self.consume_once(group, deliver)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                logger.warning("event bus: reading for %s failed (%s); retrying", group, exc)
                await asyncio.sleep(1.0)
            except Exception:
                if self._stopping:
                    return
                # The entry stays pending and is claimed again after claim_idle_s.
                logger.exception("event bus: delivering to %s failed; it will be retried", group)
                await asyncio.sleep(1.0)

    async def oldest_unhandled(self) -> datetime | None:
        oldest: datetime | None = None
        try:
            groups = await self._client.xinfo_groups(self.stream)
        except ResponseError:
            return None  # no stream yet
        for info in groups:
            name = info["name"]
            candidates = []
            pending = await self._client.xpending(self.stream, name)
            if pending["pending"]:
                candidates.append(pending["min"])
            undelivered = await self._client.xrange(
                self.stream, min=b"(" + info["last-delivered-id"], count=1
            )
            if undelivered:
                candidates.append(undelivered[0][0])
            for entry_id in candidates:
                entries = await self._client.xrange(self.stream, min=entry_id, max=entry_id)
                if entries and entries[0][1]:
                    occurred = _decode(entries[0][1][_FIELD]).occurred_at
                    oldest = occurred if oldest is None else min(oldest, occurred)
        return oldest

    async def delete_stream(self) -> None:
        """Tests and benchmarks: remove this bus's stream and its groups."""
        await self._client.delete(self.stream)
