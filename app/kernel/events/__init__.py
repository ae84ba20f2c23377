"""Events: a transactional outbox per module, a relay, a bus, and consumers with an inbox."""

from .consumer import Consumer, ConsumesEvents, DeadLetter, FlushesEvents, Handler
from .outbox import Outbox
from .relay import OutboxStatus, Relay
from .system import EventsStatus, EventSystem, create_bus
from .tables import EventTables, add_event_tables, event_tables_of

__all__ = [
    "Consumer",
    "ConsumesEvents",
    "DeadLetter",
    "EventSystem",
    "EventTables",
    "EventsStatus",
    "FlushesEvents",
    "Handler",
    "Outbox",
    "OutboxStatus",
    "Relay",
    "add_event_tables",
    "create_bus",
    "event_tables_of",
]
