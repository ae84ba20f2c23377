"""The analytics read model: built only from events, it agrees with the modules' own
stats, and a rebuild from the retained events equals the model built as they came."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.composition.analytics_rebuild import rebuild_analytics
from app.modules import analytics
from contracts.conversation import MessageCreate, RoutingDecisionCreate, SessionCreate
from contracts.errors import ContractError
from contracts.memory import MemoryEntryCreate
from contracts.rag import DocumentCreate, SearchRequest
from contracts.record import Contracts
from contracts.tools import Caller
from tests.conftest import events_settled

from .conftest import Modules

Auth = Callable[..., dict[str, str]]
SINCE = datetime.now(UTC) - timedelta(days=1)
UNTIL = datetime.now(UTC) + timedelta(days=1)


async def some_of_everything(contracts: Contracts) -> None:
    conversation, memory = contracts.conversation, contracts.memory
    for user, sessions in (("alice", 3), ("bob", 2)):
        for s in range(sessions):
            session = await conversation.create_session(user_id=user, session=SessionCreate())
            for n in range(s + 2):
                message = await conversation.append_message(
                    session_id=session.id,
                    user_id=user,
                    message=MessageCreate(role="user", content=f"message {n} of {user}"),
                )
            await conversation.record_routing_decision(
                message_id=message.id,
                user_id=user,
                decision=RoutingDecisionCreate(
                    intent="math", confidence=0.9, tool_name="math.evaluate"
                ),
            )
        added = await memory.add(user_id=user, entry=MemoryEntryCreate(content=f"{user} likes tea"))
        await memory.add(user_id=user, entry=MemoryEntryCreate(content=f"{user} lives by the sea"))
        await memory.delete(memory_id=added.entry.id, user_id=user)
    await conversation.delete_session(session_id=session.id, user_id="bob")
    for expression in ("1 + 1", "2 * 3", "1 / 0"):
        with contextlib.suppress(ContractError):  # calls that did not run are events too
            await contracts.tools.execute(
                name="math.evaluate",
                params={"expression": expression},
                caller=Caller(user_id="alice", client_id="default"),
            )
    await contracts.rag.ingest(documents=[DocumentCreate(source="a.md", text="tea by the sea")])
    for query in ("tea", "sea", "kettle"):
        await contracts.rag.search(request=SearchRequest(query=query, k=3))


async def model_rows(modules: Modules) -> dict[str, list[tuple[Any, ...]]]:
    database = modules.by_name("analytics").database
    tables = analytics.module.metadata.tables
    rows = {}
    async with database.read() as tx:
        for name in ("usage_by_day", "tool_calls_by_day", "retrieval_samples"):
            table = tables[name]
            rows[name] = sorted(tuple(r) for r in (await tx.execute(select(table))).all())
    return rows


async def test_the_model_agrees_with_the_modules_own_stats(modules: Modules) -> None:
    contracts = modules.contracts
    await some_of_everything(contracts)
    await modules.events().drain()
    report = await contracts.analytics.report(since=SINCE, until=UNTIL)
    conversation = await contracts.conversation.stats(since=SINCE, until=UNTIL)
    tools = await contracts.tools.stats(since=SINCE, until=UNTIL)
    rag = await contracts.rag.stats(since=SINCE, until=UNTIL)

    total = {
        f: sum(getattr(d, f) for d in report.days)
        for f in report.days[0].__struct_fields__
        if f != "day"
    }
    assert total["sessions_created"] == conversation.sessions_created == 5
    # The conversation module drops a deleted session's messages; the model keeps the count.
    assert total["messages"] == 2 + 3 + 4 + 2 + 3
    assert total["sessions_deleted"] == 1
    assert total["routing_decisions"] == 5
    assert sum(conversation.decisions_by_intent.values()) == 4  # one went with its session
    assert total["tool_calls"] == tools.calls == 3
    assert [t.tool_name for t in report.tools] == ["math.evaluate"]
    assert report.tools[0].succeeded == tools.by_status.get("succeeded", 0)
    assert total["searches"] == rag.searches == 3 == report.retrieval.searches
    assert (
        report.retrieval.p50_ms is not None
        and report.retrieval.p99_ms is not None
        and report.retrieval.p50_ms <= report.retrieval.p99_ms
    )
    assert total["documents_ingested"] == 1
    assert (total["memories_added"], total["memories_deleted"]) == (4, 2)
    assert report.memory_growth == 2
    assert [(u.user_id, u.sessions_created, u.messages) for u in report.top_users] == [
        ("alice", 3, 9),
        ("bob", 2, 5),
    ]
    assert report.top_users[0].tool_calls == 3
    sources = {s.source: s for s in report.sources}
    assert set(sources) == {"conversation", "memory", "rag", "tools"}
    assert sources["conversation"].events_applied == 5 + 14 + 5 + 1


async def test_a_rebuild_equals_the_model_built_incrementally(modules: Modules) -> None:
    await some_of_everything(modules.contracts)
    await modules.events().drain()
    incremental = await model_rows(modules)
    report = await modules.contracts.analytics.report(since=SINCE, until=UNTIL)
    assert incremental["usage_by_day"] and incremental["tool_calls_by_day"]

    seen: list[tuple[int, int]] = []
    applied = await rebuild_analytics(
        modules.contracts, lambda done, total: seen.append((done, total))
    )
    assert await model_rows(modules) == incremental
    rebuilt = await modules.contracts.analytics.report(since=SINCE, until=UNTIL)
    assert rebuilt.days == report.days and rebuilt.tools == report.tools
    assert applied == seen[-1][0] == seen[-1][1]  # every retained event, and progress says so
    # Rebuilding twice is the same as once.
    await rebuild_analytics(modules.contracts)
    assert await model_rows(modules) == incremental


async def test_report_route(client: AsyncTestClient[Litestar], auth: Auth) -> None:
    assert (await client.get("/v1/analytics/report", headers=auth("alice"))).status_code == 403
    admin = auth("root", admin=True)
    bad = await client.get("/v1/analytics/report?range=forever", headers=admin)
    assert bad.status_code == 400 and bad.json()["field"] == "range"
    await client.post("/v1/sessions", json={}, headers=auth("alice"))
    await events_settled(client)
    report = (await client.get("/v1/analytics/report?range=7d", headers=admin)).json()
    assert report["days"][0]["sessions_created"] == 1
    assert report["consistency_lag_s"] == 0.0
    health = (await client.get("/health")).json()
    assert health["components"]["events.consistency_lag"]["ok"] is True


async def test_a_deletion_inside_a_batch_forgets_what_came_before_it_only(
    modules: Modules,
) -> None:
    """The model adds a batch up before writing it: a user deletion in the middle of a
    batch must still forget the events before it and keep those after (a new account of
    the same name)."""
    conversation = modules.contracts.conversation
    await conversation.create_session(user_id="alice", session=SessionCreate())
    await modules.contracts.sagas.request_user_deletion(user_id="alice", requested_by="ops")
    await conversation.create_session(user_id="alice", session=SessionCreate())
    before, after = (await conversation.replay_events()).items
    (deletion,) = (await modules.contracts.sagas.replay_events()).items
    analytics = modules.events().consumers["analytics"]
    await analytics.deliver_batch([before, deletion, after])
    report = await modules.contracts.analytics.report(since=SINCE, until=UNTIL)
    assert [(u.user_id, u.sessions_created) for u in report.top_users] == [("alice", 1)]
    positions = {s.source: s.events_applied for s in report.sources}
    assert positions == {"conversation": 2, "sagas": 1}
