"""The relay: moves a module's committed outbox rows onto the bus, in order per aggregate.

Several relays may serve one database (one per server process). A relay claims a batch
by writing a lease on its rows, so no other publishes them while the lease holds; a
relay that dies leaves its lease to lapse, and its rows are claimed and published again
(at-least-once; consumers' inboxes drop the repeats). A row whose aggregate has an
earlier row under someone else's lease waits, so an aggregate's events keep their order.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Row, delete, exists, func, or_, select, text, update

from ..columns import utcnow
from ..database import ModuleDatabase
from .bus import EventBus
from .outbox import Outbox
from .tables import EventTables

logger = logging.getLogger("bulkhead.events")
# Serialises claims among the relays of one PostgreSQL database (the key is arbitrary but
# fixed): a claim decides by other claims' leases, so two must not decide at once.
_CLAIM_LOCK = 0x6275_6C6B  # "bulk"


class OutboxStatus(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    unpublished: int
    oldest_unpublished_at: datetime | None


class Relay:
    def __init__(
        self,
        outbox: Outbox,
        database: ModuleDatabase,
        tables: EventTables,
        bus: EventBus,
        *,
        owner: str,
        batch_size: int = 500,
        lease_s: float = 30.0,
    ) -> None:
        self.source = outbox.source
        self._outbox = outbox
        self._db = database.claim(outbox.source)
        self._table = tables.outbox
        self._bus = bus
        self._owner = owner
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_s)

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch; return how many rows it published."""
        rows = await self.claim()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        try:
            await self._bus.publish([self._outbox.envelope(row) for row in rows])
        except BaseException:
            await self._release(ids)  # let the next attempt (ours or another's) take them
            raise
        # Marked whoever holds the lease now: if ours lapsed and another relay took the
        # rows, they are published all the same (it will publish them again, harmlessly);
        # insisting on our lease would let two slow relays steal from each other forever.
        async with self._db.transaction() as tx:
            await tx.execute(
                update(self._table)
                .where(self._table.c.id.in_(ids), self._table.c.published_at.is_(None))
                .values(published_at=utcnow(), lease_owner=None, lease_until=None)
            )
        return len(rows)

    async def drain(self) -> int:
        published = 0
        while count := await self.publish_batch():
            published += count
        return published

    async def claim(self) -> list[Row[Any]]:
        """Lease up to a batch of rows to this relay: unpublished, not under a live lease,
        and with no earlier row of their aggregate under one."""
        o = self._table
        earlier = o.alias("earlier")
        now = utcnow()
        # The aggregates another relay holds rows of, found once: asked per row instead,
        # a queue table's stale statistics led PostgreSQL to scan every earlier row for
        # each row (210 ms for a batch out of 2,000 rows; this way 3 ms).
        leased = (
            select(
                earlier.c.aggregate_type,
                earlier.c.aggregate_id,
                func.min(earlier.c.id).label("first"),
            )
            .where(earlier.c.published_at.is_(None), earlier.c.lease_until >= now)
            .group_by(earlier.c.aggregate_type, earlier.c.aggregate_id)
            .cte("leased")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        held_earlier = exists().where(
            leased.c.aggregate_type == o.c.aggregate_type,
            leased.c.aggregate_id == o.c.aggregate_id,
            leased.c.first < o.c.id,
        )
        query = (
            select(o)
            .where(
                o.c.published_at.is_(None),
                or_(o.c.lease_until.is_(None), o.c.lease_until < now),
                ~held_earlier,
            )
            .order_by(o.c.id)
            .limit(self._batch_size)
        )
        async with self._db.transaction() as tx:
            if self._db.dialect == "postgresql":
                # SQLite's BEGIN IMMEDIATE already serialises claims.
                await tx.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
                # Rows being marked published right now are skipped, not waited for.
                query = query.with_for_update(skip_locked=True, of=o)
            rows = list((await tx.execute(query)).all())
            if rows:
                await tx.execute(
                    update(o)
                    .where(o.c.id.in_([row.id for row in rows]))
                    .values(
                        lease_owner=self._owner,
                        lease_until=now + self._lease,
                        attempts=o.c.attempts + 1,
                    )
                )
        return rows

    async def _release(self, ids: list[int]) -> None:
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    update(self._table)
                    .where(self._table.c.id.in_(ids), self._table.c.lease_owner == self._owner)
                    .values(lease_owner=None, lease_until=None)
                )
        except Exception:  # the lease lapses on its own
            logger.warning("relay %s: could not release its lease early", self.source)

    async def purge(self, cutoff: datetime) -> int:
        """Delete rows published before `cutoff` (the retention period)."""
        async with self._db.transaction() as tx:
            result = await tx.execute(
                delete(self._table).where(self._table.c.published_at < cutoff)
            )
        return result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult

    async def status(self) -> OutboxStatus:
        async with self._db.read() as tx:
            count, oldest = (
                await tx.execute(
                    select(func.count(), func.min(self._table.c.occurred_at)).where(
                        self._table.c.published_at.is_(None)
                    )
                )
            ).one()
        return OutboxStatus(source=self.source, unpublished=count, oldest_unpublished_at=oldest)
