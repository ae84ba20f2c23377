"""The tools service on a real database, with a clock the test moves, and a real sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.tools.service import ToolsService
from contracts.tools import Caller, ToolCreate, ToolsAPI
from tests.over_the_wire import contract_under_test

ALICE = Caller(user_id="alice", client_id="agent-a")


class Clock:
    """Stands in for `utcnow`: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tools_settings(settings: Settings) -> Settings:
    """The test's settings, where the tests of this folder adjust tool settings."""
    return settings


@pytest.fixture
async def tools(tools_settings: Settings, clock: Clock) -> AsyncIterator[ToolsAPI]:
    """The service itself: the sandbox suites look at the host around its runs."""
    async with tools_contract("in-process", tools_settings, clock) as api:
        yield api


@pytest.fixture
async def sandboxed(tools: ToolsAPI, sandbox_ready: None) -> ToolsAPI:
    """The tools contract, where the sandbox can run; skips with the reason where not."""
    return tools


@pytest.fixture
async def sandbox_ready(tools_settings: Settings) -> None:
    database = open_module_database("tools", tools_settings)
    try:
        health = await ToolsService(database, tools_settings).component_health()
    finally:
        await database.dispose()
    if not health["sandbox"].ok:
        pytest.skip(f"the tool sandbox cannot run here: {health['sandbox'].error}")


@asynccontextmanager
async def tools_contract(mode: str, settings: Settings, clock: Clock) -> AsyncIterator[ToolsAPI]:
    """The service on `settings` with the test's clock, in `mode` (see `contract_under_test`)."""
    database = open_module_database("tools", settings)
    service = ToolsService(database, settings, clock=clock)
    async with contract_under_test(mode, "tools", service, database, settings) as api:
        yield api


def raw_tool(name: str, source: str, **fields: object) -> ToolCreate:
    """A tool that takes any params, with no output schema: for attacks and probes."""
    return ToolCreate(name=name, source=source, schema={"type": "object"}, **fields)  # type: ignore[arg-type]  # fields are checked by msgspec when built


def processes_with(marker: str) -> list[int]:
    """Host PIDs whose command line contains `marker` (a sandbox's: its `source_label`)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # it ended while we looked
    return found


async def wait_until_gone(marker: str, within_s: float = 5.0) -> list[int]:
    """Poll until no process carries the marker; return the ones left after `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while (left := processes_with(marker)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return left
