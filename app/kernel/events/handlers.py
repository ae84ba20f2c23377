"""Which handler applies which event class, each handler typed by the class it receives.

`EventHandlers().on(MessageAppended, self._on_message)` checks statically that the handler
takes a `MessageAppended`; the consumer decodes each envelope to its class and calls the
handler registered for exactly that class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event, EventEnvelope

E = TypeVar("E", bound=Event)

# A handler of one event class, inside the consumer's transaction (which records the inbox).
TypedHandler = Callable[[AsyncSession, E, EventEnvelope], Awaitable[None]]
# How the consumer calls any of them: with the decoded event, whatever its class.
Handler = Callable[[AsyncSession, Event, EventEnvelope], Awaitable[None]]


class WrongEventClass(TypeError):
    """A handler was given an event of another class than it was registered for."""


class EventHandlers:
    def __init__(self) -> None:
        self._by_class: dict[type[Event], Handler] = {}

    def on(self, event_class: type[E], handler: TypedHandler[E]) -> EventHandlers:
        """Register `handler` for `event_class`; returns self, to chain."""

        async def apply(tx: AsyncSession, event: Event, envelope: EventEnvelope) -> None:
            if not isinstance(event, event_class):  # a real check: it survives `python -O`
                raise WrongEventClass(f"{event_class.__name__} handler got {type(event).__name__}")
            await handler(tx, event, envelope)

        self._by_class[event_class] = apply
        return self

    def around(self, wrap: Callable[[Handler], Handler]) -> EventHandlers:
        """The same registrations, each handler wrapped (e.g. to track positions after it)."""
        wrapped = EventHandlers()
        wrapped._by_class = {cls: wrap(h) for cls, h in self._by_class.items()}
        return wrapped

    def __iter__(self) -> Iterator[tuple[type[Event], Handler]]:
        return iter(self._by_class.items())

    def __len__(self) -> int:
        return len(self._by_class)


def user_of(event: Event) -> str:
    """The user an event names; for events that always name one (a deletion, a message)."""
    if event.user_id is None:
        raise ValueError(f"{type(event).__name__} names no user")
    return event.user_id
