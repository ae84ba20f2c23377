"""The typed record of contracts: stand-ins answer 503 for modules this process does not run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.kernel.app_factory import close_modules
from app.kernel.settings import Settings
from app.main import bind_modules
from contracts.absent import AbsentModule, ModuleNotRunning
from contracts.conversation import ConversationAPI
from contracts.errors import Unavailable
from contracts.record import Contracts


async def test_a_stand_in_has_the_protocols_methods_and_each_says_the_module_is_absent() -> None:
    absent = Contracts.none_running().conversation
    assert isinstance(absent, AbsentModule)
    with pytest.raises(ModuleNotRunning, match="conversation module is not enabled here") as caught:
        await absent.list_sessions(user_id="alice")
    assert isinstance(caught.value, Unavailable) and caught.value.details == {
        "module": "conversation"
    }
    assert isinstance(absent, ConversationAPI)  # runtime_checkable sees the same methods
    with pytest.raises(AttributeError):
        absent.drop_everything  # noqa: B018  # not a method of the contract


def test_the_record_names_every_module_and_refuses_unknown_ones() -> None:
    record = Contracts.none_running()
    assert set(Contracts.names()) == {
        "conversation",
        "billing",
        "rag",
        "tools",
        "memory",
        "analytics",
        "sagas",
    }
    assert not any(record.runs(name) for name in Contracts.names())
    with pytest.raises(LookupError):
        record.with_service("payments", object())


async def test_a_process_running_some_modules_gets_stand_ins_for_the_rest(
    sqlite_settings: Settings,
) -> None:
    wiring = bind_modules(replace(sqlite_settings, modules=("tools", "rag")))
    try:
        assert wiring.contracts.runs("rag") and wiring.contracts.runs("tools")
        assert not wiring.contracts.runs("memory")
        assert wiring.contracts.runs("sagas")  # the saga store always runs
        with pytest.raises(ModuleNotRunning, match="memory module"):
            await wiring.contracts.memory.delete_user(user_id="alice")
    finally:
        await close_modules(wiring.modules)
