"""Admin routes: how far behind events are, and the dead letters to look at and resubmit."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from ..auth import requires_admin
from .consumer import DeadLetter
from .system import EventsStatus, EventSystem


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
