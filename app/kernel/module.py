"""The `Module` descriptor: everything the kernel needs to know about one module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Controller
from sqlalchemy import MetaData

from .database import ModuleDatabase
from .settings import Settings

# Built with the module's own database, the settings, and (as keyword arguments named
# after the modules in `depends_on`) the contracts of the modules it calls.
ServiceFactory = Callable[..., Any]
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

    def owns_unmodelled(self, name: str) -> bool:
        return name.startswith(tuple(self.unmodelled))

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def build_service(
        self, database: ModuleDatabase, settings: Settings, contracts: dict[str, Any]
    ) -> Any:
        missing = [dep for dep in self.depends_on if dep not in contracts]
        if missing:
            raise LookupError(f"the {self.name} module needs the {', '.join(missing)} contract(s)")
        deps = {dep: contracts[dep] for dep in self.depends_on}
        return self.service(database.claim(self.name), settings, **deps)
