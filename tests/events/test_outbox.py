"""A module's data and its events commit together, or neither does."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.kernel.events import Outbox
from contracts.conversation import MessageCreate, SessionCreate

from .conftest import Modules


async def outbox_count(modules: Modules, name: str) -> int:
    page = await modules.contracts.event_sources()[name].replay_events(after=0, limit=1000)
    return len(page.items)


async def test_a_failure_after_the_event_is_written_leaves_neither(
    modules: Modules, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = modules.contracts.conversation
    original = Outbox.add

    async def add_then_fail(self: Outbox, tx: Any, event: Any, **kwargs: Any) -> Any:
        await original(self, tx, event, **kwargs)
        raise RuntimeError("the process failed after writing the event")

    monkeypatch.setattr(Outbox, "add", add_then_fail)
    with pytest.raises(RuntimeError):
        await conversation.create_session(user_id="alice", session=SessionCreate(title="t"))
    monkeypatch.undo()

    assert (await conversation.list_sessions(user_id="alice")).items == []
    assert await outbox_count(modules, "conversation") == 0


async def test_an_event_that_cannot_be_written_leaves_no_data(
    modules: Modules, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = modules.contracts.conversation
    session = await conversation.create_session(user_id="alice", session=SessionCreate(title="t"))

    async def refuse(self: Outbox, tx: Any, event: Any, **kwargs: Any) -> Any:
        raise OSError("the outbox's disk is full")

    monkeypatch.setattr(Outbox, "add", refuse)
    with pytest.raises(OSError):
        await conversation.append_message(
            session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="hi")
        )
    monkeypatch.undo()

    messages = await conversation.list_messages(session_id=session.id, user_id="alice")
    assert messages.items == []
    assert (
        await conversation.get_session(session_id=session.id, user_id="alice")
    ).message_count == 0
    assert await outbox_count(modules, "conversation") == 1  # SessionCreated only


async def test_each_write_records_its_event_with_the_user_and_aggregate(modules: Modules) -> None:
    conversation = modules.contracts.conversation
    session = await conversation.create_session(user_id="alice", session=SessionCreate(title="t"))
    await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="hi")
    )
    page = await conversation.replay_events(after=0, limit=10)
    assert [(e.type, e.version, e.user_id, e.aggregate_id) for e in page.items] == [
        ("SessionCreated", 1, "alice", str(session.id)),
        ("MessageAppended", 1, "alice", str(session.id)),
    ]
    appended = page.items[1].event()
    assert appended.content == "hi" and appended.seq == 1  # type: ignore[attr-defined]  # the event is a MessageAppended
    assert page.items[0].position < page.items[1].position
    assert page.retained == 2 and page.next_after is None


async def test_replay_pages_through_every_retained_event(modules: Modules) -> None:
    await modules.write_sessions_created(25, aggregates=5, user="alice")
    seen, after = [], 0
    while True:
        page = await modules.contracts.conversation.replay_events(after=after, limit=10)
        seen += page.items
        if page.next_after is None:
            break
        after = page.next_after
    assert len(seen) == 25 == page.retained
    assert [e.position for e in seen] == sorted(e.position for e in seen)
    database = modules.by_name("conversation").database
    async with database.read() as tx:
        table = modules.outbox("conversation").table
        assert await tx.scalar(select(func.count()).select_from(table)) == 25
