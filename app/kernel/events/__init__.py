"""Events: a transactional outbox per module, a relay, a bus, and consumers with an inbox."""

from .consumer import Consumer, ConsumesEvents, FlushesEvents
from .dead_letters import DeadLetter
from .handlers import EventHandlers, Handler, user_of
from .outbox import Outbox, ReplaysOutbox
from .relay import OutboxStatus, Relay
from .system import EventsStatus, EventSystem, create_bus
from .tables import EventTables, add_event_tables, event_tables_of

__all__ = [
    "Consumer",
    "ConsumesEvents",
    "DeadLetter",
    "EventHandlers",
    "EventSystem",
    "EventTables",
    "EventsStatus",
    "FlushesEvents",
    "Handler",
    "Outbox",
    "OutboxStatus",
    "Relay",
    "ReplaysOutbox",
    "add_event_tables",
    "create_bus",
    "event_tables_of",
    "user_of",
]
