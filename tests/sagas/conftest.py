"""Real module services on real databases, an orchestrator over them, and faults to inject."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app.kernel.app_factory import close_modules
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import bind_modules
from app.sagas import SAGA_STORE, SagaOrchestrator
from app.sagas.settings import SagaSettings
from contracts.errors import Unavailable
from contracts.record import Contracts


@dataclass
class World:
    contracts: Contracts  # the real services
    settings: Settings
    make: Callable[..., SagaOrchestrator]  # another orchestrator on the same store


class Faulty:
    """Wraps a contract; `fail[method] = n` makes its next n calls raise `Unavailable`
    (n < 0: every call, until reset)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fail: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(**kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            left = self.fail.get(name, 0)
            if left != 0:
                self.fail[name] = left - 1 if left > 0 else left
                raise Unavailable(f"{name} is down (injected)")
            return await method(**kwargs)

        return call


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    settings = settings.with_values(SagaSettings, backoff_s=0.005, max_attempts=4)
    wiring = bind_modules(settings)
    contracts = wiring.contracts
    made: list[tuple[SagaOrchestrator, Any]] = []

    def make(**overrides: object) -> SagaOrchestrator:
        database = open_module_database(SAGA_STORE.name, settings)
        record = contracts
        for name, service in overrides.items():
            record = record.with_service(name, service)
        orchestrator = SagaOrchestrator(database, settings, record)
        made.append((orchestrator, database))
        return orchestrator

    yield World(contracts=contracts, settings=settings, make=make)
    for orchestrator, database in made:
        await orchestrator.stop_background()
        await database.dispose()
    await close_modules(wiring.modules)
