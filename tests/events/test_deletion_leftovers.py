"""What a user deletion used to leave behind: dead letters holding whole events of the
user (which a resubmit wrote back), dead letters kept forever, and deleted rows lingering
in SQLite's free pages and WAL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.kernel.events import EventSystem
from app.kernel.events.settings import EventsSettings
from app.kernel.settings import Settings
from app.main import create_app
from contracts.conversation import MessageAppended, MessageCreate, SessionCreate
from contracts.events import EventEnvelope
from contracts.memory import WorkingMemoryNotFound
from tests.conftest import events_settled, upgrade_all

from .conftest import Modules
from .test_consumers import Poison

Auth = Callable[..., dict[str, str]]
SECRET = "my passport number is X1234567"


def poison_memory(events: EventSystem, monkeypatch: pytest.MonkeyPatch) -> Poison:
    consumer = events.consumers["memory"]
    key = (MessageAppended.TYPE, MessageAppended.VERSION)
    poison = Poison(consumer._handlers[key])
    monkeypatch.setitem(consumer._handlers, key, poison)
    return poison


async def test_a_deleted_users_dead_letters_go_and_cannot_be_replayed(
    settings: Settings, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings.with_values(EventsSettings, max_attempts=2, backoff_s=0.01))
    async with AsyncTestClient(app=app) as client:
        admin, mallory = auth("root", admin=True), auth("mallory")
        poison = poison_memory(app.state.events, monkeypatch)
        poison.poisoned.add("mallory")
        session = (await client.post("/v1/sessions", json={}, headers=mallory)).json()
        message = await client.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"role": "user", "content": f"I'm travelling; {SECRET}"},
            headers=mallory,
        )
        assert message.status_code == 201
        await events_settled(client)
        letters = (
            await client.get("/v1/admin/events/dead-letters?consumer=memory", headers=admin)
        ).json()
        (letter,) = [x for x in letters if x["type"] == "MessageAppended"]
        assert SECRET in str(letter["envelope"])  # the twin: the letter holds the content

        assert (await client.delete("/v1/users/me", headers=mallory)).status_code == 202
        await events_settled(client)
        left = (
            await client.get("/v1/admin/events/dead-letters?consumer=memory", headers=admin)
        ).json()
        assert left == []
        poison.poisoned.clear()  # the handler is fixed: a resubmit would now succeed
        resubmit = await client.post(
            f"/v1/admin/events/dead-letters/memory/{letter['id']}/resubmit", headers=admin
        )
        assert resubmit.status_code == 404


async def test_an_event_of_a_deleted_user_arriving_late_writes_nothing(modules: Modules) -> None:
    conversation = modules.contracts.conversation
    session = await conversation.create_session(user_id="mallory", session=SessionCreate())
    system = modules.events()
    await system.drain()
    # An event the relay has not delivered yet when the deletion is applied.
    late = EventEnvelope(
        id=uuid.uuid4(),
        source="conversation",
        position=10_000,
        type=MessageAppended.TYPE,
        version=MessageAppended.VERSION,
        aggregate_type="session",
        aggregate_id=str(session.id),
        user_id="mallory",
        occurred_at=datetime.now(UTC),
        payload={
            "session_id": str(session.id),
            "message_id": str(uuid.uuid4()),
            "seq": 1,
            "role": "user",
            "content": f"I'm Mallory and {SECRET}",
            "tokens": 9,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )
    await modules.contracts.sagas.request_user_deletion(user_id="mallory", requested_by="x")
    await system.drain()
    assert await system.consumers["memory"].apply(late) is True  # taken, as a no-op
    memory = modules.contracts.memory
    assert (await memory.list_memories(user_id="mallory")).items == []
    with pytest.raises(WorkingMemoryNotFound):
        await memory.working_memory(session_id=session.id, user_id="mallory")
    # The twin: the same event for a user not deleted does write.
    alive = msgspec.structs.replace(late, id=uuid.uuid4(), user_id="bob")
    assert await system.consumers["memory"].apply(alive) is True
    assert (await memory.working_memory(session_id=session.id, user_id="bob")).items


async def test_dead_letters_are_purged_past_their_retention(
    modules: Modules, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = modules.events(max_attempts=1, backoff_s=0.01)
    poison_memory(system, monkeypatch).poisoned.add("alice")
    conversation = modules.contracts.conversation
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = MessageCreate(role="user", content="hello")
    await conversation.append_message(session_id=session.id, user_id="alice", message=message)
    await system.drain()
    assert len(await system.dead_letters(consumer="memory")) == 1
    await system.purge(now=datetime.now(UTC) + timedelta(days=29))
    assert len(await system.dead_letters(consumer="memory")) == 1
    await system.purge(now=datetime.now(UTC) + timedelta(days=31))  # the default: 30 days
    assert await system.dead_letters(consumer="memory") == []


async def test_deleted_content_is_gone_from_the_sqlite_files(
    sqlite_settings: Settings, auth: Auth
) -> None:
    await upgrade_all(sqlite_settings)
    async with AsyncTestClient(app=create_app(sqlite_settings)) as client:
        alice = auth("alice")
        session = (await client.post("/v1/sessions", json={}, headers=alice)).json()
        await client.post(
            f"/v1/sessions/{session['id']}/messages",
            json={"role": "user", "content": SECRET},
            headers=alice,
        )
        await events_settled(client)
        files = sorted(sqlite_settings.data_dir.glob("conversation.sqlite3*"))

        def holds_secret() -> bool:
            return any(SECRET.encode() in f.read_bytes() for f in files if f.exists())

        assert holds_secret()  # the twin: the content is on disk before the deletion
        assert (await client.delete("/v1/users/me", headers=alice)).status_code == 202
        await events_settled(client)
        assert not holds_secret()
