"""SagaAdminAPI, the saga store's contract, in-process and over HTTP: what the admin routes,
account deletion and every process's token check call, with each declared error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

import pytest

from app.main import bind_modules
from app.sagas import SAGA_STORE, SagaOrchestrator
from app.sagas.create_session import CREATE_SESSION
from contracts.billing import QuotaUpdate
from contracts.sagas import SagaAdminAPI, SagaNotFound, SagaNotRetryable
from contracts.users import UserDeletionRequested
from tests.over_the_wire import MODES, contract_under_test

from .conftest import Faulty, World

PAYLOAD = {"user_id": "alice", "title": "trip", "metadata": {}}


@pytest.fixture(params=MODES)
async def admin(request: pytest.FixtureRequest, world: World) -> AsyncIterator[SagaAdminAPI]:
    """An orchestrator on the test's saga store, with modules of its own beside it (as in
    the edge process): the service itself, or a client of it over HTTP."""
    wiring = bind_modules(world.settings)
    (store,) = [b for b in wiring.modules if b.module.name == SAGA_STORE.name]
    others = [b for b in wiring.modules if b is not store]
    orchestrator = cast(SagaOrchestrator, store.service)
    async with contract_under_test(
        request.param, SAGA_STORE.name, orchestrator, store.database, world.settings, others
    ) as api:
        yield api


async def test_sagas_are_listed_and_read_with_their_history(
    world: World, admin: SagaAdminAPI
) -> None:
    runner = world.make()
    saga_id = await runner.start(CREATE_SESSION, PAYLOAD)
    assert (await runner.wait(saga_id, 10)).state == "succeeded"
    listed = await admin.list_sagas()
    assert [(s.id, s.state) for s in listed.items] == [(saga_id, "succeeded")]
    assert (await admin.list_sagas(state="needs_attention")).items == []
    saga = await admin.get_saga(saga_id=saga_id)
    assert saga.history and {h.step for h in saga.history} >= {"initialize_memory"}
    with pytest.raises(SagaNotFound):
        await admin.get_saga(saga_id=uuid.uuid4())


async def test_retry_takes_up_only_a_saga_that_needs_attention(
    world: World, admin: SagaAdminAPI
) -> None:
    await world.contracts.billing.set_quota(
        user_id="alice", update=QuotaUpdate(max_active_sessions=0)
    )
    memory = Faulty(world.contracts.memory)
    memory.fail["cleanup"] = -1  # its compensation keeps failing
    runner = world.make(memory=memory)
    stuck = await runner.wait(await runner.start(CREATE_SESSION, PAYLOAD), 10)
    assert stuck.state == "needs_attention"
    assert [s.id for s in (await admin.list_sagas(state="needs_attention")).items] == [stuck.id]
    retried = await admin.retry(saga_id=stuck.id)  # the admin's process has a healthy memory
    assert retried.id == stuck.id
    assert (await runner.wait(stuck.id, 10)).state == "compensated"
    with pytest.raises(SagaNotRetryable):
        await admin.retry(saga_id=stuck.id)
    with pytest.raises(SagaNotFound):
        await admin.retry(saga_id=uuid.uuid4())


async def test_user_deletion_and_token_revocation(admin: SagaAdminAPI) -> None:
    assert await admin.tokens_valid_after(user_id="alice") is None
    revoked = await admin.revoke_tokens(user_id="alice")
    assert revoked.user_id == "alice" and revoked.revoked_before <= datetime.now(UTC)
    assert await admin.tokens_valid_after(user_id="alice") == revoked.revoked_before
    assert await admin.tokens_valid_after(user_id="bob") is None
    deletion = await admin.request_user_deletion(user_id="bob", requested_by="ops")
    assert (deletion.user_id, deletion.status) == ("bob", "accepted")
    page = await admin.replay_events()  # the saga store's outbox, as its event source
    published = [e for e in page.items if e.type == UserDeletionRequested.TYPE]
    assert [e.payload["deletion_id"] for e in published] == [str(deletion.deletion_id)]
