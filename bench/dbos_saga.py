"""The create-session saga as a DBOS Transact workflow, for bench/sagas.py to run beside ours.

The same three contract calls (conversation, memory, billing) with the same idempotency
keys and the same compensation in reverse order, as DBOS steps in a DBOS workflow; DBOS
checkpoints each step in its system database (SQLite or PostgreSQL, the backend the
orchestrator's saga store is on in the same run).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from dbos import DBOS, DBOSConfig

from contracts.conversation import SessionCreate
from contracts.record import Contracts

_wired: dict[str, Contracts] = {}  # DBOS steps are module functions: the run's contracts


def _contracts() -> Contracts:
    return _wired["contracts"]


def _key(step: str) -> str:
    return f"{DBOS.workflow_id}:{step}"


@DBOS.step()
async def create_conversation(user_id: str) -> str:
    session = await _contracts().conversation.create_session(
        user_id=user_id, session=SessionCreate(), idempotency_key=_key("create_conversation")
    )
    return str(session.id)


@DBOS.step()
async def initialize_memory(user_id: str, session_id: str) -> None:
    await _contracts().memory.initialize(
        session_id=uuid.UUID(session_id), user_id=user_id, idempotency_key=_key("memory")
    )


@DBOS.step()
async def register_billing(user_id: str, session_id: str) -> None:
    await _contracts().billing.register_session(
        user_id=user_id, session_id=uuid.UUID(session_id), idempotency_key=_key("billing")
    )


@DBOS.step()
async def delete_conversation(user_id: str, session_id: str) -> None:
    await _contracts().conversation.delete_session(
        session_id=uuid.UUID(session_id), user_id=user_id
    )


@DBOS.step()
async def cleanup_memory(session_id: str) -> None:
    await _contracts().memory.cleanup(
        session_id=uuid.UUID(session_id), idempotency_key=_key("memory-cleanup")
    )


@DBOS.workflow()
async def create_session(user_id: str) -> str:
    session_id = await create_conversation(user_id)
    undo: list[Callable[[], Awaitable[None]]] = [lambda: delete_conversation(user_id, session_id)]
    try:
        await initialize_memory(user_id, session_id)
        undo.append(lambda: cleanup_memory(session_id))
        await register_billing(user_id, session_id)
    except Exception:
        for compensate in reversed(undo):
            await compensate()
        raise
    return session_id


class DbosRuntime:
    """DBOS launched on a system database for one backend's runs; `close` shuts it down."""

    def __init__(self, contracts: Contracts, system_database_url: str) -> None:
        _wired["contracts"] = contracts
        config: DBOSConfig = {
            "name": "bulkhead-bench",
            "system_database_url": system_database_url,
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()

    async def run(self, user_id: str) -> float:
        """One workflow start to finish, in ms."""
        started = time.perf_counter()
        handle = await DBOS.start_workflow_async(create_session, user_id)
        await handle.get_result()
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        DBOS.destroy(destroy_registry=False)
