"""Working memory in the memory module's own database, where no Redis is configured: the
embedded default keeps every session's working memory across a restart, under the same
rules as Redis (a TTL renewed by use, a cap on items, oldest first). Expired rows are
removed as they are met and when live sessions are counted. Called from an event handler,
it writes in the handler's own transaction, so a turn lands exactly once with its inbox row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.database import ModuleDatabase

from .models import WorkingMemoryContentsRow as Row
from .working_store import Stored

_HELD = "memory.working_rows_held"  # in the transaction's `info`: rows it has locked


class DatabaseStore:
    backend: Literal["redis", "database", "in-process"] = "database"

    def __init__(self, database: ModuleDatabase) -> None:
        self._db = database.claim("memory")

    async def create(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored:
        async with self._db.unit_of_work() as tx:
            row = await self._live(tx, session_id, now)
            if row is None:
                row = Row(session_id=session_id, items=_encode(items[-max_items:]), expires_at=now)
                tx.add(row)
                _held(tx)[session_id] = row
            return _renew(row, ttl_s, now)

    async def append(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored | None:
        async with self._db.unit_of_work() as tx:
            row = await self._live(tx, session_id, now)
            if row is None:
                return None
            row.items = _encode([*_decode(row.items), *items][-max_items:])
            return _renew(row, ttl_s, now)

    async def read(self, session_id: str, *, ttl_s: int, now: datetime) -> Stored | None:
        async with self._db.unit_of_work() as tx:  # a read renews the TTL: it writes
            row = await self._live(tx, session_id, now)
            return None if row is None else _renew(row, ttl_s, now)

    async def prefetch(self, session_ids: list[str]) -> None:
        """One query locks and loads them all, held for the rest of the transaction (a
        session's identity map keeps only weak references: loaded rows nobody holds are
        gone by the next `get`, which would ask again, once per session)."""
        async with self._db.unit_of_work() as tx:
            held = _held(tx)
            wanted = [s for s in session_ids if s not in held]
            if wanted:
                found = await tx.scalars(
                    select(Row).where(Row.session_id.in_(wanted)).with_for_update()
                )
                held.update(dict.fromkeys(wanted))
                held.update({row.session_id: row for row in found})

    async def delete(self, session_ids: list[str]) -> None:
        async with self._db.unit_of_work() as tx:
            await tx.execute(delete(Row).where(Row.session_id.in_(session_ids)))
            _held(tx).update(dict.fromkeys(session_ids))

    async def live_sessions(self, *, now: datetime) -> int:
        async with self._db.unit_of_work() as tx:
            await tx.execute(delete(Row).where(Row.expires_at <= now))
            tx.info.pop(_HELD, None)  # some of those may be gone now: ask again
            return int((await tx.execute(select(func.count()).select_from(Row))).scalar_one())

    async def ping(self) -> None:
        return None  # the module's own database: its health is the module's

    async def close(self) -> None:
        return None  # the database is closed with the module

    @staticmethod
    async def _live(tx: AsyncSession, session_id: str, now: datetime) -> Row | None:
        # Locked once per transaction: a second call (a read, then an append, as an event
        # handler does) finds the row held without a query.
        held = _held(tx)
        if session_id in held:
            row = held[session_id]
        else:
            row = held[session_id] = await tx.get(Row, session_id, with_for_update=True)
        if row is not None and row.expires_at <= now:
            await tx.delete(row)
            await tx.flush()
            held[session_id] = None
            return None
        return row


def _held(tx: AsyncSession) -> dict[str, Row | None]:
    """The rows this transaction has locked (None: there was none), by session id."""
    held: dict[str, Row | None] = tx.info.setdefault(_HELD, {})
    return held


def _renew(row: Row, ttl_s: int, now: datetime) -> Stored:
    row.expires_at = now + timedelta(seconds=ttl_s)
    return Stored(items=_decode(row.items), expires_at=row.expires_at)


def _encode(items: list[bytes]) -> bytes:
    return msgspec.msgpack.encode(items)


def _decode(blob: bytes) -> list[bytes]:
    return msgspec.msgpack.decode(blob, type=list[bytes])
