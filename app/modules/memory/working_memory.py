"""Working memory per session: the store's contents, owned as the database says."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import msgspec

from app.kernel.settings import Settings
from contracts.memory import WorkingMemory, WorkingMemoryItem, WorkingMemoryNotFound

from .settings import MemorySettings
from .working_store import Stored, WorkingStore

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(WorkingMemoryItem)


class WorkingMemories:
    def __init__(self, store: WorkingStore, settings: Settings, clock: Callable[[], datetime]):
        self.store = store
        own = settings.of(MemorySettings)
        self._ttl_s = own.working_ttl_s
        self._max_items = own.working_max_items
        self._clock = clock

    async def create(
        self, session_id: uuid.UUID, user_id: str, items: list[WorkingMemoryItem]
    ) -> WorkingMemory:
        stored = await self.store.create(
            str(session_id),
            [_encoder.encode(i) for i in items],
            ttl_s=self._ttl_s,
            max_items=self._max_items,
            now=self._clock(),
        )
        return self._read_as(session_id, user_id, stored)

    async def append(
        self, session_id: uuid.UUID, user_id: str, *items: WorkingMemoryItem
    ) -> WorkingMemory:
        """Append in order; an expired working memory starts again with these items."""
        key, now = str(session_id), self._clock()
        encoded = [_encoder.encode(item) for item in items]
        limits = {"ttl_s": self._ttl_s, "max_items": self._max_items}
        stored = await self.store.append(key, encoded, now=now, **limits)
        if stored is None:
            stored = await self.store.create(key, encoded, now=now, **limits)
        return self._read_as(session_id, user_id, stored)

    async def read(self, session_id: uuid.UUID, user_id: str) -> WorkingMemory:
        stored = await self.store.read(str(session_id), ttl_s=self._ttl_s, now=self._clock())
        if stored is None:
            raise WorkingMemoryNotFound(
                f"session {session_id} has no working memory: it expired or was never made",
                field="session_id",
            )
        return self._read_as(session_id, user_id, stored)

    async def read_or_empty(self, session_id: uuid.UUID, user_id: str) -> WorkingMemory:
        """What there is, or an empty one that has already expired (nothing is created)."""
        try:
            return await self.read(session_id, user_id)
        except WorkingMemoryNotFound:
            empty = Stored(items=[], expires_at=self._clock())
            return self._read_as(session_id, user_id, empty)

    def item(self, *, added_at: datetime | None = None, **fields: object) -> WorkingMemoryItem:
        return WorkingMemoryItem(added_at=added_at or self._clock(), **fields)  # type: ignore[arg-type]  # fields are checked by msgspec when built

    def _read_as(self, session_id: uuid.UUID, user_id: str, stored: Stored) -> WorkingMemory:
        return WorkingMemory(
            session_id=session_id,
            user_id=user_id,
            # In the order things happened: messages taken from events carry their own
            # time, and two consumers may have applied a session's messages out of order.
            items=sorted((_decoder.decode(raw) for raw in stored.items), key=_when),
            expires_at=stored.expires_at,
            backend=self.store.backend,
        )


def _when(item: WorkingMemoryItem) -> datetime:
    return item.added_at
