"""The event bus: how published events reach consumers. In-process unless configured."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from contracts.events import EventEnvelope

# A consumer's entry point, given events in order. It returns once each is applied or
# dead-lettered; it raises only when it could do neither (its database is down), and
# then the bus must deliver them again later.
Deliver = Callable[[Sequence[EventEnvelope]], Awaitable[None]]


class EventBus(Protocol):
    kind: str

    def subscribe(self, group: str, deliver: Deliver) -> None: ...

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Returns once the bus holds the events: after this the relay marks them published."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def oldest_unhandled(self) -> datetime | None:
        """When the oldest event the bus holds but a group has not handled occurred."""
        ...


class InProcessBus:
    """Delivers to every subscriber before `publish` returns.

    Nothing is held in memory between publish and handling, so a crash loses nothing:
    events whose publish had not returned are still unpublished in their outbox.
    """

    kind = "in-process"

    def __init__(self) -> None:
        self._groups: dict[str, Deliver] = {}

    def subscribe(self, group: str, deliver: Deliver) -> None:
        self._groups[group] = deliver

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        # Each group gets the batch in order: an aggregate's events arrive as written.
        await asyncio.gather(*(deliver(envelopes) for deliver in self._groups.values()))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def oldest_unhandled(self) -> datetime | None:
        return None  # it holds nothing
