"""Where working memory lives: the interface, and the in-process store.

Both stores keep the same rules, checked by one test suite: a TTL renewed by every read
and write, measured on the caller's clock (so tests move time instead of sleeping); a cap
on items, the oldest dropped first; contents returned oldest first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol


@dataclass(frozen=True)
class Stored:
    items: list[bytes]  # each one item, encoded by the caller
    expires_at: datetime


class WorkingStore(Protocol):
    backend: Literal["redis", "database", "in-process"]

    async def create(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored:
        """Create it unless it exists (then return that, renewed)."""
        ...

    async def append(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored | None:
        """Append the items in order; None when there is none (or it expired)."""
        ...

    async def read(self, session_id: str, *, ttl_s: int, now: datetime) -> Stored | None: ...

    async def prefetch(self, session_ids: list[str]) -> None:
        """About to touch these sessions (a batch of events): load them at once, where
        that saves round trips."""
        ...

    async def delete(self, session_ids: list[str]) -> None: ...

    async def live_sessions(self, *, now: datetime) -> int: ...

    async def ping(self) -> None:
        """Raise `WorkingMemoryUnavailable` when the store cannot be reached."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Entry:
    items: list[bytes]
    expires_at: datetime


@dataclass
class InProcessStore:
    """For tests: one process's, gone when it stops (the server keeps working memory in
    Redis, or in the module's database)."""

    backend: Literal["redis", "database", "in-process"] = "in-process"
    _sessions: dict[str, _Entry] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def create(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored:
        async with self._lock:
            entry = self._live(session_id, now)
            if entry is None:
                entry = self._sessions[session_id] = _Entry(items[-max_items:], now)
            return self._renew(entry, ttl_s, now)

    async def append(
        self, session_id: str, items: list[bytes], *, ttl_s: int, max_items: int, now: datetime
    ) -> Stored | None:
        async with self._lock:
            entry = self._live(session_id, now)
            if entry is None:
                return None
            entry.items = [*entry.items, *items][-max_items:]
            return self._renew(entry, ttl_s, now)

    async def read(self, session_id: str, *, ttl_s: int, now: datetime) -> Stored | None:
        async with self._lock:
            entry = self._live(session_id, now)
            return None if entry is None else self._renew(entry, ttl_s, now)

    async def prefetch(self, session_ids: list[str]) -> None:
        return None  # already in memory

    async def delete(self, session_ids: list[str]) -> None:
        async with self._lock:
            for session_id in session_ids:
                self._sessions.pop(session_id, None)

    async def live_sessions(self, *, now: datetime) -> int:
        async with self._lock:
            for session_id in [s for s, e in self._sessions.items() if e.expires_at <= now]:
                del self._sessions[session_id]
            return len(self._sessions)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _live(self, session_id: str, now: datetime) -> _Entry | None:
        entry = self._sessions.get(session_id)
        if entry is not None and entry.expires_at <= now:
            del self._sessions[session_id]
            return None
        return entry

    @staticmethod
    def _renew(entry: _Entry, ttl_s: int, now: datetime) -> Stored:
        entry.expires_at = now + timedelta(seconds=ttl_s)
        return Stored(items=list(entry.items), expires_at=entry.expires_at)
