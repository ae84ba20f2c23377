"""AnalyticsAPI, the read model's contract, in-process and over HTTP: what a rebuild
(`bulkhead analytics rebuild`) and the dashboard call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import msgspec
import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from contracts.analytics import AnalyticsAPI
from contracts.conversation import MessageAppended, SessionCreated
from contracts.events import Event, EventEnvelope
from contracts.record import Contracts
from tests.over_the_wire import MODES, contract_under_test

NOW = datetime.now(UTC)


@pytest.fixture(params=MODES)
async def analytics(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[AnalyticsAPI]:
    database = open_module_database("analytics", settings)
    service = REGISTRY["analytics"].build_service(database, settings, Contracts.none_running())
    async with contract_under_test(request.param, "analytics", service, database, settings) as api:
        yield cast(AnalyticsAPI, api)


def envelope(event: Event, position: int) -> EventEnvelope:
    """As the conversation module's outbox would publish it."""
    return EventEnvelope(
        id=uuid.uuid4(),
        source="conversation",
        position=position,
        type=event.TYPE,
        version=event.VERSION,
        aggregate_type=event.AGGREGATE,
        aggregate_id=event.aggregate_id(),
        user_id=event.user_id,
        occurred_at=NOW,
        payload=msgspec.to_builtins(event),
    )


def history(sessions: int) -> list[EventEnvelope]:
    """`sessions` sessions of alice's, each with one message of 3 tokens."""
    events: list[Event] = []
    for _ in range(sessions):
        session_id = uuid.uuid4()
        events.append(
            SessionCreated(user_id="alice", session_id=session_id, title=None, created_at=NOW)
        )
        events.append(
            MessageAppended(
                user_id="alice",
                session_id=session_id,
                message_id=uuid.uuid4(),
                seq=1,
                role="user",
                content="hi there",
                tokens=3,
                created_at=NOW,
            )
        )
    return [envelope(e, position) for position, e in enumerate(events, start=1)]


async def totals(analytics: AnalyticsAPI) -> tuple[int, int, int]:
    report = await analytics.report(since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1))
    return (
        sum(d.sessions_created for d in report.days),
        sum(d.messages for d in report.days),
        sum(d.tokens for d in report.days),
    )


async def test_events_apply_once_and_a_reset_forgets_them(analytics: AnalyticsAPI) -> None:
    events = history(2)
    assert await analytics.apply_events(events=events) == 4
    assert await analytics.apply_events(events=events) == 0  # each at most once
    assert await totals(analytics) == (2, 2, 6)
    report = await analytics.report(since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1))
    assert [(u.user_id, u.sessions_created) for u in report.top_users] == [("alice", 2)]
    await analytics.reset()
    assert await totals(analytics) == (0, 0, 0)
    assert await analytics.apply_events(events=events) == 4  # new to it again: a rebuild
    assert await totals(analytics) == (2, 2, 6)


async def test_the_read_model_publishes_nothing_of_its_own(analytics: AnalyticsAPI) -> None:
    await analytics.apply_events(events=history(1))
    page = await analytics.replay_events(after=0, limit=10)
    assert (page.items, page.next_after) == ([], None)
