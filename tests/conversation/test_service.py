"""ConversationAPI behaviour, in-process and over HTTP, on SQLite and PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.conversation import (
    ConversationAPI,
    MessageCreate,
    RoutingDecisionCreate,
    RoutingDecisionExists,
    RoutingDecisionNotFound,
    SessionClosed,
    SessionCreate,
    SessionNotFound,
    UnknownTool,
)
from contracts.errors import InvalidInput
from contracts.paging import InvalidCursor
from tests.fakes.tools import FakeTools


async def test_create_session_with_same_idempotency_key_returns_the_first(
    conversation: ConversationAPI,
) -> None:
    first = await conversation.create_session(
        user_id="alice", session=SessionCreate(title="a"), idempotency_key="k1"
    )
    again = await conversation.create_session(
        user_id="alice", session=SessionCreate(title="b"), idempotency_key="k1"
    )
    page = await conversation.list_sessions(user_id="alice")
    assert again.id == first.id and again.title == "a"
    assert [s.id for s in page.items] == [first.id]


async def test_concurrent_creates_with_one_key_make_one_session(
    conversation: ConversationAPI,
) -> None:
    results = await asyncio.gather(
        *(
            conversation.create_session(
                user_id="alice", session=SessionCreate(), idempotency_key="same"
            )
            for _ in range(5)
        )
    )
    assert len({s.id for s in results}) == 1
    assert len((await conversation.list_sessions(user_id="alice")).items) == 1


async def test_messages_get_consecutive_seq_under_concurrent_appends(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    await asyncio.gather(
        *(
            conversation.append_message(
                session_id=session.id,
                user_id="alice",
                message=MessageCreate(role="user", content=f"message {i}"),
            )
            for i in range(20)
        )
    )
    page = await conversation.list_messages(session_id=session.id, user_id="alice", limit=200)
    assert [m.seq for m in page.items] == list(range(1, 21))
    assert (
        await conversation.get_session(session_id=session.id, user_id="alice")
    ).message_count == 20


async def test_message_tokens_are_counted_by_the_o200k_tokenizer(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = await conversation.append_message(
        session_id=session.id,
        user_id="alice",
        message=MessageCreate(role="user", content="Hello, world! tokenization"),
    )
    # o200k_base splits this into: Hello | , | world | ! | token | ization
    assert (message.tokens, message.token_encoding) == (6, "o200k_base")


async def test_session_listing_pages_with_cursor_without_gaps_or_repeats(
    conversation: ConversationAPI,
) -> None:
    created = [
        (await conversation.create_session(user_id="alice", session=SessionCreate(title=f"{i}"))).id
        for i in range(7)
    ]
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await conversation.list_sessions(user_id="alice", cursor=cursor, limit=3)
        seen += [s.id for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(created))


async def test_message_listing_pages_in_seq_order(conversation: ConversationAPI) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    for i in range(5):
        await conversation.append_message(
            session_id=session.id,
            user_id="alice",
            message=MessageCreate(role="user", content=f"{i}"),
        )
    first = await conversation.list_messages(session_id=session.id, user_id="alice", limit=2)
    rest = await conversation.list_messages(
        session_id=session.id, user_id="alice", cursor=first.next_cursor, limit=10
    )
    assert [m.content for m in first.items + rest.items] == ["0", "1", "2", "3", "4"]
    assert rest.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage", "", "eyJ4IjoxfQ", "WyJzZXNzaW9ucyIsMV0"])
async def test_malformed_cursor_is_refused(conversation: ConversationAPI, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await conversation.list_sessions(user_id="alice", cursor=cursor)


async def test_another_users_session_is_not_found(conversation: ConversationAPI) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    with pytest.raises(SessionNotFound):
        await conversation.get_session(session_id=session.id, user_id="mallory")
    with pytest.raises(SessionNotFound):
        await conversation.append_message(
            session_id=session.id,
            user_id="mallory",
            message=MessageCreate(role="user", content="x"),
        )
    with pytest.raises(SessionNotFound):
        await conversation.delete_session(session_id=session.id, user_id="mallory")
    assert (await conversation.get_session(session_id=session.id, user_id="alice")).status == "open"


async def test_closed_session_refuses_messages_and_writes_nothing(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    await conversation.close_session(session_id=session.id, user_id="alice")
    with pytest.raises(SessionClosed):
        await conversation.append_message(
            session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
        )
    after = await conversation.get_session(session_id=session.id, user_id="alice")
    assert after.message_count == 0 and after.status == "closed"


async def test_delete_session_is_idempotent_and_removes_messages(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate(title="t"))
    await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
    )
    await conversation.delete_session(session_id=session.id, user_id="alice")
    await conversation.delete_session(session_id=session.id, user_id="alice")
    with pytest.raises(SessionNotFound):
        await conversation.list_messages(session_id=session.id, user_id="alice")
    assert (await conversation.list_sessions(user_id="alice")).items == []


async def test_delete_of_a_session_never_created_is_not_found(
    conversation: ConversationAPI,
) -> None:
    with pytest.raises(SessionNotFound):
        await conversation.delete_session(session_id=uuid.uuid4(), user_id="alice")


@pytest.mark.parametrize(
    "decision",
    [
        RoutingDecisionCreate(intent="search", confidence=1.01),
        RoutingDecisionCreate(intent="search", confidence=-0.1),
        RoutingDecisionCreate(intent="", confidence=0.5),
    ],
)
async def test_invalid_routing_decision_is_refused_in_process_too(
    conversation: ConversationAPI, decision: RoutingDecisionCreate
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
    )
    with pytest.raises(InvalidInput):
        await conversation.record_routing_decision(
            message_id=message.id, user_id="alice", decision=decision
        )
    stats = await conversation.stats(
        since=datetime.now(UTC) - timedelta(hours=1), until=datetime.now(UTC)
    )
    assert stats.decisions_by_intent == {}


async def test_second_routing_decision_for_a_message_is_a_conflict(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
    )
    decision = RoutingDecisionCreate(intent="search", confidence=0.9, tool_name="web.search")
    stored = await conversation.record_routing_decision(
        message_id=message.id, user_id="alice", decision=decision
    )
    assert (stored.intent, stored.confidence, stored.tool_name) == ("search", 0.9, "web.search")
    with pytest.raises(RoutingDecisionExists):
        await conversation.record_routing_decision(
            message_id=message.id, user_id="alice", decision=decision
        )


async def test_stats_count_sessions_messages_tokens_and_intents_in_range(
    conversation: ConversationAPI,
) -> None:
    before = datetime.now(UTC)
    for user in ("alice", "bob"):
        session = await conversation.create_session(user_id=user, session=SessionCreate())
        message = await conversation.append_message(
            session_id=session.id,
            user_id=user,
            message=MessageCreate(role="user", content="Hello, world!"),
        )
        await conversation.record_routing_decision(
            message_id=message.id,
            user_id=user,
            decision=RoutingDecisionCreate(intent="chat", confidence=0.7),
        )
    after = datetime.now(UTC) + timedelta(seconds=1)
    stats = await conversation.stats(since=before, until=after)
    assert (stats.sessions_created, stats.messages, stats.tokens) == (2, 2, 8)
    assert stats.decisions_by_intent == {"chat": 2}
    empty = await conversation.stats(since=after, until=after + timedelta(hours=1))
    assert (empty.sessions_created, empty.messages, empty.tokens) == (0, 0, 0)


async def test_oversized_metadata_is_refused(conversation: ConversationAPI) -> None:
    with pytest.raises(InvalidInput) as caught:
        await conversation.create_session(
            user_id="alice", session=SessionCreate(metadata={"blob": "x" * 20_000})
        )
    assert caught.value.field == "metadata"


async def test_routing_decision_naming_an_unknown_tool_or_version_is_refused(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
    )
    for name, version in (("web.fetch", None), ("web.search", 3)):
        with pytest.raises(UnknownTool) as refused:
            await conversation.record_routing_decision(
                message_id=message.id,
                user_id="alice",
                decision=RoutingDecisionCreate(
                    intent="search", confidence=0.5, tool_name=name, tool_version=version
                ),
            )
        assert refused.value.field == "tool_name"
    stored = await conversation.record_routing_decision(
        message_id=message.id,
        user_id="alice",
        decision=RoutingDecisionCreate(
            intent="search", confidence=0.5, tool_name="web.search", tool_version=2
        ),
    )
    assert (stored.tool_name, stored.tool_version) == ("web.search", 2)


async def test_routing_decisions_ask_the_tools_module(
    conversation: ConversationAPI, tools: FakeTools
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
    )
    decision = RoutingDecisionCreate(intent="search", confidence=0.5, tool_name="web.fetch")
    with pytest.raises(UnknownTool):
        await conversation.record_routing_decision(
            message_id=message.id, user_id="alice", decision=decision
        )
    assert tools.asked == [("web.fetch", None)]


async def test_routing_decision_still_reads_after_its_tool_is_gone(
    conversation: ConversationAPI, tools: FakeTools
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    message = await conversation.append_message(
        session_id=session.id, user_id="alice", message=MessageCreate(role="user", content="x")
    )
    await conversation.record_routing_decision(
        message_id=message.id,
        user_id="alice",
        decision=RoutingDecisionCreate(intent="search", confidence=0.5, tool_name="web.search"),
    )
    tools.tools.clear()
    read = await conversation.get_routing_decision(message_id=message.id, user_id="alice")
    assert read.tool_name == "web.search"
    with pytest.raises(RoutingDecisionNotFound):
        await conversation.get_routing_decision(message_id=message.id, user_id="bob")


async def test_recent_messages_are_the_last_ones_oldest_first(
    conversation: ConversationAPI,
) -> None:
    session = await conversation.create_session(user_id="alice", session=SessionCreate())
    for i in range(5):
        await conversation.append_message(
            session_id=session.id,
            user_id="alice",
            message=MessageCreate(role="user", content=f"m{i}"),
        )
    recent = await conversation.recent_messages(session_id=session.id, user_id="alice", limit=3)
    assert [m.content for m in recent] == ["m2", "m3", "m4"]
    with pytest.raises(SessionNotFound):
        await conversation.recent_messages(session_id=session.id, user_id="bob")
    page = await conversation.replay_events()  # its outbox, as an event source
    assert [e.type for e in page.items] == ["SessionCreated"] + ["MessageAppended"] * 5
