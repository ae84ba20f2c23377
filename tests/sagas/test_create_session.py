"""The create-session saga: all three effects or none, through retries and failures."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from app.sagas.create_session import CREATE_SESSION
from app.sagas.settings import SagaSettings
from contracts.billing import QuotaExceeded, QuotaUpdate
from contracts.memory import WorkingMemoryNotFound
from contracts.record import Contracts

from .conftest import Faulty, World

PAYLOAD = {"user_id": "alice", "title": "trip", "metadata": {}}


async def effects(world: World, user_id: str = "alice") -> tuple[int, int, int]:
    """(open sessions in conversation, working memories, active billed sessions)."""
    sessions = (await world.contracts.conversation.list_sessions(user_id=user_id)).items
    working = 0
    for session in sessions:
        try:
            await world.contracts.memory.working_memory(session_id=session.id, user_id=user_id)
            working += 1
        except WorkingMemoryNotFound:
            pass
    usage = await world.contracts.billing.usage_summary(user_id=user_id)
    return len(sessions), working, usage.active_sessions


async def test_saga_creates_the_session_in_all_three_modules(world: World) -> None:
    sagas = world.make()
    saga = await sagas.wait(await sagas.start(CREATE_SESSION, PAYLOAD), 10)
    assert saga.state == "succeeded"
    assert await effects(world) == (1, 1, 1)
    detail = await sagas.get_saga(saga_id=saga.id)
    assert [(h.step, h.phase, h.outcome) for h in detail.history or []] == [
        ("create_conversation", "action", "succeeded"),
        ("initialize_memory", "action", "succeeded"),
        ("register_billing", "action", "succeeded"),
    ]


async def test_quota_exceeded_undoes_memory_and_conversation(world: World) -> None:
    await world.contracts.billing.set_quota(
        user_id="alice", update=QuotaUpdate(max_active_sessions=0)
    )
    sagas = world.make()
    saga_id = await sagas.start(CREATE_SESSION, PAYLOAD)
    saga = await sagas.wait(saga_id, 10)
    assert (saga.state, saga.error_code) == ("compensated", "QuotaExceeded")
    assert isinstance(sagas.business_error(saga_id), QuotaExceeded)
    assert await effects(world) == (0, 0, 0)
    history = (await sagas.get_saga(saga_id=saga_id)).history or []
    assert [(h.step, h.phase, h.outcome) for h in history][2:] == [
        ("register_billing", "action", "failed"),
        ("initialize_memory", "compensation", "succeeded"),
        ("create_conversation", "compensation", "succeeded"),
    ]


async def test_memory_failing_twice_is_retried_and_the_saga_succeeds(world: World) -> None:
    memory = Faulty(world.contracts.memory)
    memory.fail["initialize"] = 2
    sagas = world.make(memory=memory)
    saga = await sagas.wait(await sagas.start(CREATE_SESSION, PAYLOAD), 10)
    assert saga.state == "succeeded"
    assert memory.calls["initialize"] == 3
    history = (await sagas.get_saga(saga_id=saga.id)).history or []
    attempts = [(h.attempt, h.outcome) for h in history if h.step == "initialize_memory"]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert await effects(world) == (1, 1, 1)


async def test_retries_exhausted_compensate_what_was_done(world: World) -> None:
    memory = Faulty(world.contracts.memory)
    memory.fail["initialize"] = -1
    sagas = world.make(memory=memory)
    saga = await sagas.wait(await sagas.start(CREATE_SESSION, PAYLOAD), 10)
    assert (saga.state, saga.error_code) == ("compensated", "RetriesExhausted")
    assert memory.calls["initialize"] == world.settings.of(SagaSettings).max_attempts
    assert await effects(world) == (0, 0, 0)


async def test_failing_compensation_needs_attention_until_an_admin_retries(world: World) -> None:
    await world.contracts.billing.set_quota(
        user_id="alice", update=QuotaUpdate(max_active_sessions=0)
    )
    memory = Faulty(world.contracts.memory)
    memory.fail["cleanup"] = -1
    sagas = world.make(memory=memory)
    saga = await sagas.wait(await sagas.start(CREATE_SESSION, PAYLOAD), 10)
    assert (saga.state, saga.current_step) == ("needs_attention", "initialize_memory")
    listed = await sagas.list_sagas(state="needs_attention")
    assert [s.id for s in listed.items] == [saga.id]
    assert await effects(world) == (1, 1, 0)  # visible, never dropped
    memory.fail["cleanup"] = 0  # the fault is cleared
    await sagas.retry(saga_id=saga.id)
    saga = await sagas.wait(saga.id, 10)
    assert saga.state == "compensated"
    assert await effects(world) == (0, 0, 0)


async def test_same_request_key_returns_the_first_saga(world: World) -> None:
    sagas = world.make()
    first = await sagas.start(CREATE_SESSION, PAYLOAD, request_key="alice:k1")
    again = await sagas.start(CREATE_SESSION, PAYLOAD, request_key="alice:k1")
    assert first == again
    await sagas.wait(first, 10)
    assert await effects(world) == (1, 1, 1)


async def test_a_saga_left_by_a_dead_process_is_finished_by_another(world: World) -> None:
    dead = world.make()
    dead._spawn = lambda saga_id, row=None: None  # type: ignore[method-assign]  # dies once it persisted
    saga_id = await dead.start(CREATE_SESSION, PAYLOAD)
    survivor = world.make()
    assert await survivor.resume_unfinished() == []  # the lease has not lapsed yet
    survivor._clock = lambda: (
        dead._clock() + timedelta(seconds=world.settings.of(SagaSettings).lease_s + 1)
    )
    assert await survivor.resume_unfinished() == [saga_id]
    saga = await survivor.wait(saga_id, 10)
    assert saga.state == "succeeded"
    assert await effects(world) == (1, 1, 1)


async def test_a_process_without_the_modules_leaves_the_saga_to_one_with_them(
    world: World,
) -> None:
    starter = world.make()
    starter._spawn = lambda saga_id, row=None: None  # type: ignore[method-assign]  # a test stops this process running it
    saga_id = await starter.start(CREATE_SESSION, PAYLOAD)
    later = starter._clock() + timedelta(seconds=world.settings.of(SagaSettings).lease_s + 1)
    partial = world.make()
    partial._contracts = Contracts.none_running().with_service(  # no memory, no billing
        "conversation", world.contracts.conversation
    )
    partial._clock = lambda: later
    assert await partial.resume_unfinished() == []
    whole = world.make()
    whole._clock = lambda: later
    assert await whole.resume_unfinished() == [saga_id]
    assert (await whole.wait(saga_id, 10)).state == "succeeded"


async def test_two_orchestrators_never_run_one_saga_twice(world: World) -> None:
    owners = [world.make(), world.make()]
    starter = world.make()
    starter._spawn = lambda saga_id, row=None: None  # type: ignore[method-assign]  # leaves all eight
    ids = []
    for i in range(8):
        ids.append(await starter.start(CREATE_SESSION, {**PAYLOAD, "user_id": f"user{i}"}))
    later = starter._clock() + timedelta(seconds=world.settings.of(SagaSettings).lease_s + 1)
    for owner in owners:
        owner._clock = lambda: later
    claimed = await asyncio.gather(*(o.resume_unfinished() for o in owners))
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)
    assert not set(claimed[0]) & set(claimed[1])
    for saga_id in ids:
        owner = owners[0] if saga_id in claimed[0] else owners[1]
        assert (await owner.wait(saga_id, 10)).state == "succeeded"
    for i in range(8):
        usage = await world.contracts.billing.usage_summary(user_id=f"user{i}")
        assert (usage.sessions_total, usage.active_sessions) == (1, 1)


@pytest.mark.parametrize("state", ["running", "succeeded"])
async def test_retry_refuses_a_saga_not_needing_attention(world: World, state: str) -> None:
    from contracts.sagas import SagaNotFound, SagaNotRetryable

    sagas = world.make()
    saga_id = await sagas.start(CREATE_SESSION, PAYLOAD)
    if state == "succeeded":
        await sagas.wait(saga_id, 10)
    with pytest.raises(SagaNotRetryable):
        await sagas.retry(saga_id=saga_id)
    with pytest.raises(SagaNotFound):
        await sagas.retry(saga_id=uuid.uuid4())
    await sagas.wait(saga_id, 10)
