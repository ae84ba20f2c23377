"""The `Module` descriptor: everything the kernel needs to know about one module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from litestar import Controller
from sqlalchemy import MetaData

from contracts.record import Contracts

from .database import ModuleDatabase
from .settings import Settings

# Built with the module's own database, the settings, and the record of contracts (of
# which it calls only those in `depends_on`). Each module's factory is annotated to return
# its Protocol, so mypy proves the service implements it.
ServiceFactory = Callable[[ModuleDatabase, Settings, Contracts], object]
# Data a module ships (built-in tools), written by `db upgrade` after its migrations.
# Idempotent: run on every upgrade.
Seed = Callable[[ModuleDatabase, Settings], Awaitable[None]]


@dataclass(frozen=True)
class Module:
    name: str
    metadata: MetaData  # this module's tables, and only these
    contract: type  # the Protocol in `contracts/` that `service` implements
    service: ServiceFactory
    routes: Sequence[type[Controller]]
    migrations: Path  # this module's own Alembic history
    depends_on: Sequence[str] = field(default=())
    # Extensions `db provision` creates in its PostgreSQL database, as the admin.
    postgres_extensions: Sequence[str] = field(default=())
    # Name prefixes of tables and indexes its migrations keep outside `metadata`
    # (virtual tables, expression indexes); the boundary check counts them as its own.
    unmodelled: Sequence[str] = field(default=())
    seed: Seed | None = None
    # Its own settings (a dataclass of `setting()` fields), read with `settings.of(...)`.
    settings: type | None = None
    # Calls it takes at once (per worker) before refusing with 503; BULKHEAD_MAX_IN_FLIGHT
    # overrides it. Lower for modules whose calls are slow by nature (searches, tool runs).
    max_in_flight: int = 64

    def owns_unmodelled(self, name: str) -> bool:
        return name.startswith(tuple(self.unmodelled))

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def build_service(
        self, database: ModuleDatabase, settings: Settings, contracts: Contracts
    ) -> object:
        missing = [dep for dep in self.depends_on if not contracts.runs(dep)]
        if missing:
            raise LookupError(f"the {self.name} module needs the {', '.join(missing)} contract(s)")
        return self.service(database.claim(self.name), settings, contracts)
