"""Modules in other processes: sagas whose steps call one that dies and comes back end
whole, never half done; a user deletion's progress is read from every process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import cast

import pytest
from litestar.testing import AsyncTestClient

from app.kernel.app_factory import close_modules
from app.kernel.rpc.service_tokens import create_key_pair
from app.kernel.settings import Settings
from app.main import bind_modules, create_app
from app.sagas import SagaOrchestrator
from app.sagas.create_session import CREATE_SESSION
from app.sagas.settings import SagaSettings
from contracts.memory import MemoryAPI, WorkingMemoryNotFound
from tests.conftest import upgrade_all
from tests.over_the_wire import ModuleServer

Auth = Callable[..., dict[str, str]]

pytestmark = pytest.mark.e2e
SAGAS = 12


async def test_sagas_survive_the_remote_memory_process_dying_and_coming_back(
    sqlite_settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    settings = replace(sqlite_settings, redis_url=redis_url, redis_key_prefix=redis_prefix)
    settings = settings.with_values(SagaSettings, backoff_s=0.1, max_attempts=10)
    await upgrade_all(settings)
    env = {
        "BULKHEAD_MODULES": "tools,conversation,memory",
        "BULKHEAD_REDIS_URL": redis_url,  # working memory outlives the process
        "BULKHEAD_REDIS_KEY_PREFIX": redis_prefix,
    }
    wiring = bind_modules(settings)
    sagas_db = next(b.database for b in wiring.modules if b.module.name == "sagas")
    server = ModuleServer("memory", settings, env)
    memory = server.client(MemoryAPI)
    server.start()
    try:
        orchestrator = SagaOrchestrator(
            sagas_db, settings, wiring.contracts.with_service("memory", memory)
        )
        users = [f"user-{uuid.uuid4().hex[:6]}" for _ in range(SAGAS)]
        started = [await orchestrator.start(CREATE_SESSION, {"user_id": u}) for u in users[:4]]
        await asyncio.gather(*(orchestrator.wait(s, 30) for s in started))
        server.stop()  # the memory process dies
        started += [await orchestrator.start(CREATE_SESSION, {"user_id": u}) for u in users[4:]]
        await asyncio.sleep(1.0)  # the sagas meet the dead remote, and retry
        server.start()  # back, on the same address
        finished = await asyncio.gather(*(orchestrator.wait(s, 60) for s in started))
        assert {s.state for s in finished} == {"succeeded"}, [s.last_error for s in finished]
        remote_memory = cast(MemoryAPI, memory)
        for user in users:  # whole in all three modules
            (session,) = (await wiring.contracts.conversation.list_sessions(user_id=user)).items
            try:
                await remote_memory.working_memory(session_id=session.id, user_id=user)
            except WorkingMemoryNotFound:
                pytest.fail(f"{user}'s session has no working memory: half done")
            assert (await wiring.contracts.billing.usage_summary(user_id=user)).active_sessions == 1
        await orchestrator.stop_background()
    finally:
        await memory.close()
        server.stop()
        await close_modules(wiring.modules, wiring.remotes)


async def test_user_deletion_progress_is_read_from_every_process(
    sqlite_settings: Settings, redis_url: str, redis_prefix: str, auth: Auth
) -> None:
    await upgrade_all(sqlite_settings)
    bus = {"BULKHEAD_BUS_URL": redis_url, "BULKHEAD_REDIS_KEY_PREFIX": redis_prefix}
    server = ModuleServer(
        "memory",
        sqlite_settings,
        {**bus, "BULKHEAD_MODULES": "tools,conversation,memory", "BULKHEAD_SERVICE_NAME": "memory"},
    )
    create_key_pair(sqlite_settings.data_dir / "keys", "edge")
    server.start()
    edge = replace(
        sqlite_settings,
        redis_key_prefix=redis_prefix,
        remotes={"memory": f"http://127.0.0.1:{server.port}"},
        environ={**bus, "BULKHEAD_SERVICE_NAME": "edge"},
        groups={},
    )
    try:
        async with AsyncTestClient(create_app(edge)) as client:
            asked = await client.delete("/v1/users/me", headers=auth("alice"))
            assert asked.status_code == 202, asked.text
            url = f"/v1/admin/users/deletions/{asked.json()['deletion_id']}"
            for _ in range(150):
                progress = (await client.get(url, headers=auth("root", admin=True))).json()
                if progress["complete"] and "memory" in progress["modules"]:
                    break
                await asyncio.sleep(0.2)
            # memory's consumer runs only in the memory process; analytics only in the edge
            assert progress["modules"]["memory"] == "applied", progress
            assert progress["modules"]["analytics"] == "applied", progress
            assert progress["complete"]
    finally:
        server.stop()
