"""Admin routes: how far behind events are, and the dead letters to look at and resubmit."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from contracts.events import EVENT_TYPES

from ..auth import requires_admin
from .dead_letters import DeadLetter
from .system import EventsStatus, EventSystem


class EventType(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    version: int
    aggregate_type: str
    # The envelope's `payload` plus its `user_id`: what a consumer elsewhere decodes.
    payload_schema: dict[str, Any]


class EventsAdminController(Controller):
    path = "/admin/events"
    tags = ["events"]
    guards = [requires_admin]

    @get(
        operation_id="eventsStatus",
        summary="Unpublished events per outbox, consistency lag, dead letters (admin)",
    )
    async def status(self, state: State) -> EventsStatus:
        events: EventSystem = state.events
        return await events.status()

    @get(
        "/types",
        operation_id="eventTypes",
        summary="Every event type and version, with the JSON Schema of its payload (admin)",
    )
    async def types(self) -> list[EventType]:
        return [
            EventType(
                type=cls.TYPE,
                version=cls.VERSION,
                aggregate_type=cls.AGGREGATE,
                payload_schema=msgspec.json.schema(cls),
            )
            for (_, _), cls in sorted(EVENT_TYPES.items())
        ]

    @get(
        "/dead-letters",
        operation_id="listDeadLetters",
        summary="Events a consumer kept failing on, newest first (admin)",
    )
    async def dead_letters(
        self,
        state: State,
        consumer: Annotated[
            str | None, QueryParameter(description="only this consuming module")
        ] = None,
        include_resolved: Annotated[
            bool, QueryParameter(description="also those resubmitted successfully")
        ] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 100,
    ) -> list[DeadLetter]:
        events: EventSystem = state.events
        return await events.dead_letters(
            consumer=consumer, include_resolved=include_resolved, limit=limit
        )

    @post(
        "/dead-letters/{consumer:str}/{letter_id:uuid}/resubmit",
        operation_id="resubmitDeadLetter",
        summary="Apply a dead letter's event again, once its cause is fixed (admin)",
        status_code=200,
    )
    async def resubmit(
        self, state: State, consumer: FromPath[str], letter_id: FromPath[UUID]
    ) -> DeadLetter:
        events: EventSystem = state.events
        return await events.resubmit(consumer, letter_id)
