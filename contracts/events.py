"""Events: facts a module publishes after it commits them, for others to react to.

Each event type is a msgspec Struct named by `TYPE` and `VERSION`; a changed shape is a new
version, so consumers of the old one keep working. Events travel in an `EventEnvelope`
whose `payload` is plain JSON, so any process (or language) can read them. Every event
names the user whose data it carries (or None), which is how deleting a user finds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable
from uuid import UUID

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True):
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str]  # what it is about; events of one aggregate keep their order

    user_id: str | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        key = (cls.TYPE, cls.VERSION)
        if key in EVENT_TYPES and EVENT_TYPES[key] is not cls:
            raise TypeError(f"two event classes claim {cls.TYPE} v{cls.VERSION}")
        EVENT_TYPES[key] = cls

    def aggregate_id(self) -> str:
        raise NotImplementedError


EVENT_TYPES: dict[tuple[str, int], type[Event]] = {}


class UnknownEvent(LookupError):
    """An envelope of a type or version this process has no class for."""


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID  # the inbox key: a consumer applies each id at most once
    source: str  # the module whose outbox wrote it
    position: int  # its order in that outbox
    type: str
    version: int
    aggregate_type: str
    aggregate_id: str
    user_id: str | None
    occurred_at: datetime
    payload: dict[str, Any]
    # The W3C traceparent of the request that wrote it: its handling continues that trace.
    trace_context: str | None = None

    def event(self) -> Event:
        cls = EVENT_TYPES.get((self.type, self.version))
        if cls is None:
            raise UnknownEvent(f"no event class for {self.type} v{self.version}")
        return msgspec.convert({**self.payload, "user_id": self.user_id}, cls)


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[EventEnvelope]
    next_after: int | None  # the position to ask after next; None when there are no more
    retained: int  # how many events the outbox holds now


@runtime_checkable
class EventSource(Protocol):
    """A module whose retained events can be read again, oldest first (read-model rebuilds)."""

    async def replay_events(self, *, after: int = 0, limit: int = 500) -> EventPage: ...
