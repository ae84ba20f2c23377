"""The four tables every module keeps for events, in its own database.

`outbox`: the events it wrote, in the same transaction as their data. `inbox`: the ids of
events it has applied, in the same transaction as their effect. `dead_letters`: events
its handlers kept failing on, for an admin to look at and resubmit. `forgotten_users`:
users whose deletion it has applied, so that an older event of theirs arriving late (a
retry, a resubmitted dead letter) cannot write their data back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from ..columns import UTCDateTime
from ..telemetry.tracing import TRACEPARENT_LENGTH

# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
_POSITION = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    inbox: Table
    dead_letters: Table
    forgotten_users: Table


def add_event_tables(metadata: MetaData) -> EventTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", _POSITION, primary_key=True, autoincrement=True),  # the order written
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("aggregate_type", String(50), nullable=False),
        Column("aggregate_id", String(200), nullable=False),
        Column("type", String(100), nullable=False),
        Column("version", Integer, nullable=False),
        Column("user_id", String(128)),  # whose data it carries: deleting a user finds it
        Column("payload", Text, nullable=False),  # JSON
        Column("trace_context", String(TRACEPARENT_LENGTH)),  # of the request that wrote it
        Column("occurred_at", UTCDateTime, nullable=False),
        Column("published_at", UTCDateTime),
        Column("attempts", Integer, nullable=False, default=0),  # times claimed by a relay
        Column("lease_owner", String(100)),
        Column("lease_until", UTCDateTime),
    )
    Index(
        "ix_outbox_unpublished",
        outbox.c.id,
        postgresql_where=outbox.c.published_at.is_(None),
        sqlite_where=outbox.c.published_at.is_(None),
    )
    Index("ix_outbox_aggregate", outbox.c.aggregate_type, outbox.c.aggregate_id, outbox.c.id)
    Index("ix_outbox_published_at", outbox.c.published_at)
    Index("ix_outbox_user_id", outbox.c.user_id)
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("source", String(50), nullable=False),
        Column("type", String(100), nullable=False),
        Column("handled_at", UTCDateTime, nullable=False, index=True),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("event_id", Uuid, nullable=False, index=True),
        Column("source", String(50), nullable=False),
        Column("type", String(100), nullable=False),
        Column("user_id", String(128), index=True),
        Column("envelope", Text, nullable=False),  # JSON, as delivered
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", UTCDateTime, nullable=False, index=True),
        Column("resolved_at", UTCDateTime),  # resubmitted and applied
    )
    forgotten_users = Table(
        "forgotten_users",
        metadata,
        Column("user_id", String(128), primary_key=True),
        # Events of the user that happened up to then are skipped; later ones (an account
        # of the same name made again) apply.
        Column("forgotten_at", UTCDateTime, nullable=False, index=True),
    )
    return EventTables(
        outbox=outbox, inbox=inbox, dead_letters=dead_letters, forgotten_users=forgotten_users
    )


def event_tables_of(metadata: MetaData) -> EventTables | None:
    """The event tables in a module's metadata, if it has them."""
    names = ("outbox", "inbox", "dead_letters", "forgotten_users")
    if not all(name in metadata.tables for name in names):
        return None
    return EventTables(*(metadata.tables[name] for name in names))
