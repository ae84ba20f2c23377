"""Modules reacting to each other's events: memory follows the conversation; deleting a
user reaches every module and the analytics model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from contracts.conversation import MessageCreate, Role, SessionCreate
from contracts.memory import WorkingMemoryNotFound
from tests.conftest import events_settled

from .conftest import Modules, RecordingBus

Auth = Callable[..., dict[str, str]]


async def test_memory_converges_on_the_conversation(modules: Modules) -> None:
    conversation, memory = modules.contracts.conversation, modules.contracts.memory
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    turns: list[tuple[Role, str]] = [
        ("user", "I'm vegetarian. Book a table for two tonight!"),
        ("assistant", "Done: a table for two at 8pm."),
        ("user", "My sister is visiting. I live in Leeds"),
    ]
    for role, content in turns:
        await conversation.append_message(
            session_id=session.id,
            user_id="alice",
            message=MessageCreate(role=role, content=content),
        )
    # The conversation module has committed; the memory module has not heard yet.
    with pytest.raises(WorkingMemoryNotFound):
        await memory.working_memory(session_id=session.id, user_id="alice")

    bus = RecordingBus()
    events = modules.events(bus)
    await events.drain()
    working = await memory.working_memory(session_id=session.id, user_id="alice")
    assert [(i.kind, i.role, i.content) for i in working.items] == [
        ("turn", "user", "I'm vegetarian. Book a table for two tonight!"),
        ("fact", None, "I'm vegetarian"),
        ("turn", "assistant", "Done: a table for two at 8pm."),
        ("turn", "user", "My sister is visiting. I live in Leeds"),
        ("fact", None, "My sister is visiting"),
        ("fact", None, "I live in Leeds"),
    ]
    # Another user cannot read it; a redelivered message adds nothing.
    with pytest.raises(WorkingMemoryNotFound):
        await memory.working_memory(session_id=session.id, user_id="bob")
    consumer = events.consumers["memory"]
    messages = [e for e in bus.published if e.type == "MessageAppended"]
    await consumer.deliver(messages[0])
    assert len((await memory.working_memory(session_id=session.id, user_id="alice")).items) == 6

    # The session is deleted: its working memory goes, and a late copy of one of its
    # messages (another consumer's redelivery, out of order) does not bring it back.
    await conversation.delete_session(session_id=session.id, user_id="alice")
    await events.drain()
    with pytest.raises(WorkingMemoryNotFound):
        await memory.working_memory(session_id=session.id, user_id="alice")
    late = msgspec.structs.replace(messages[-1], id=uuid.uuid4())
    await consumer.deliver(late)
    with pytest.raises(WorkingMemoryNotFound):
        await memory.working_memory(session_id=session.id, user_id="alice")


async def test_deleting_a_user_reaches_every_module(
    client: AsyncTestClient[Litestar], auth: Auth
) -> None:
    alice, bob, admin = auth("alice"), auth("bob"), auth("root", admin=True)
    for who in (alice, bob):
        session = (await client.post("/v1/sessions", json={"title": "plans"}, headers=who)).json()
        await client.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"role": "user", "content": "I'm allergic to nuts"},
            headers=who,
        )
        await client.post("/v1/memories", json={"content": "Allergic to nuts"}, headers=who)
        run = await client.post(
            "/v1/tools/text.stats/executions", json={"params": {"text": "a b c"}}, headers=who
        )
        assert run.status_code in (201, 503), run.text  # 503: no bubblewrap on this machine
    await events_settled(client)
    before = (await client.get("/v1/analytics/report?range=1d", headers=admin)).json()
    assert {u["user_id"] for u in before["top_users"]} == {"alice", "bob"}

    deleted = await client.delete("/v1/users/me", headers=alice)
    assert deleted.status_code == 202
    assert deleted.json()["user_id"] == "alice" and deleted.json()["status"] == "accepted"
    await events_settled(client)
    progress_url = f"/v1/admin/users/deletions/{deleted.json()['deletion_id']}"
    assert (await client.get(progress_url, headers=bob)).status_code == 403
    progress = (await client.get(progress_url, headers=admin)).json()
    assert progress["complete"] is True
    assert progress["modules"] == {
        m: "applied" for m in ("conversation", "billing", "tools", "memory", "analytics")
    }
    unknown = await client.get(f"/v1/admin/users/deletions/{session['id']}", headers=admin)
    assert unknown.json()["complete"] is False
    assert set(unknown.json()["modules"].values()) == {"pending"}

    assert (await client.get("/v1/sessions", headers=alice)).status_code == 401  # revoked
    await asyncio.sleep(1.01)  # token times are whole seconds: a new one, a second on
    alice = auth("alice")
    assert (await client.get("/v1/sessions", headers=alice)).json()["items"] == []
    assert (await client.get("/v1/memories", headers=alice)).json()["items"] == []
    executions = (await client.get("/v1/tools/executions", headers=admin)).json()["items"]
    assert {e["user_id"] for e in executions} == {"bob"}
    usage = (await client.get("/v1/usage", headers=alice)).json()
    # The ledger stays (ids and counts only), so limits survive; her session is released.
    assert usage["active_sessions"] == 0 and usage["sessions_today"] == 1
    after = (await client.get("/v1/analytics/report?range=1d", headers=admin)).json()
    assert [u["user_id"] for u in after["top_users"]] == ["bob"]
    assert sum(d["messages"] for d in after["days"]) == 1  # bob's only
    # Bob's data is untouched.
    assert len((await client.get("/v1/sessions", headers=bob)).json()["items"]) == 1
    assert len((await client.get("/v1/memories", headers=bob)).json()["items"]) == 1

    # The admin variant, and its checks.
    assert (await client.delete("/v1/admin/users/bob", headers=alice)).status_code == 403
    assert (await client.delete("/v1/admin/users/no%20such", headers=admin)).status_code == 422
    assert (await client.delete("/v1/admin/users/bob", headers=admin)).status_code == 202
    await events_settled(client)
    assert (await client.get("/v1/sessions", headers=bob)).status_code == 401
    await asyncio.sleep(1.01)
    assert (await client.get("/v1/sessions", headers=auth("bob"))).json()["items"] == []
    final = (await client.get("/v1/analytics/report?range=1d", headers=admin)).json()
    assert final["top_users"] == []


async def test_a_deleted_users_events_leave_every_outbox(modules: Modules) -> None:
    conversation = modules.contracts.conversation
    await conversation.create_session(user_id="alice", session=SessionCreate())
    await conversation.create_session(user_id="bob", session=SessionCreate())
    sagas = modules.contracts.sagas
    await sagas.request_user_deletion(user_id="alice", requested_by="alice")
    await modules.events().drain()
    users = {e.user_id for e in (await conversation.replay_events()).items}
    assert users == {"bob"}
    since = datetime.now(UTC) - timedelta(days=1)
    report = await modules.contracts.analytics.report(since=since, until=datetime.now(UTC))
    assert [u.user_id for u in report.top_users] == ["bob"]
