"""A layout: which service runs which modules, and the environment that makes each one
call the others. One place for it, so the split end-to-end test's processes and a
cluster's pods are configured alike.

The syntax is the CLI's: `edge=conversation,billing,sagas rag tools memory analytics` — a
service named after its modules, or a lone module that names its own service. The first
service is the edge: it serves the whole public API (composition included), so it calls
every module it does not run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.kernel.module import Module
from app.kernel.registry import ModuleRegistry
from app.kernel.rpc.service_tokens import SERVICE_NAME_PATTERN
from app.kernel.rpc.wiring import allowed_callers
from app.main import REGISTRY
from app.sagas import SAGA_STORE

DEFAULT_LAYOUT = ("edge=conversation,billing,sagas", "rag", "tools", "memory", "analytics")


class LayoutError(ValueError):
    """A layout that cannot run: says which part and why."""


@dataclass(frozen=True)
class Service:
    name: str
    modules: tuple[str, ...]  # the saga store is `sagas`, like a module
    edge: bool  # serves the whole public API

    @property
    def key_modules(self) -> tuple[str, ...]:
        """What its service key may speak for (`bulkhead keys create --modules`)."""
        return (*self.modules, "composition") if self.edge else self.modules


@dataclass(frozen=True)
class Layout:
    services: tuple[Service, ...]
    # The modules laid out: the server's own, or another registry (a test adding a module).
    registry: ModuleRegistry = field(default=REGISTRY, compare=False)

    @classmethod
    def parse(
        cls, specs: Sequence[str] = DEFAULT_LAYOUT, registry: ModuleRegistry = REGISTRY
    ) -> Layout:
        known = [m.name for m in [*registry, SAGA_STORE]]
        services = []
        for i, spec in enumerate(specs):
            name, _, listed = spec.partition("=")
            modules = tuple(m.strip() for m in (listed or name).split(",") if m.strip())
            if not re.fullmatch(SERVICE_NAME_PATTERN, name):
                raise LayoutError(f"{spec!r}: a service name is lower-case letters, digits, -")
            if unknown := sorted(set(modules) - set(known)):
                raise LayoutError(f"{spec!r}: no module {', '.join(unknown)}")
            services.append(Service(name, modules, edge=i == 0))
        placed = [m for s in services for m in s.modules]
        if twice := sorted({m for m in placed if placed.count(m) > 1}):
            raise LayoutError(f"{', '.join(twice)} placed in more than one service")
        if missing := sorted(set(known) - set(placed)):
            raise LayoutError(f"{', '.join(missing)} placed in no service")
        if len({s.name for s in services}) < len(services):
            raise LayoutError("two services share a name")
        if SAGA_STORE.name not in services[0].modules:
            raise LayoutError(
                "the saga store (sagas) runs in the first service, the edge: it starts the "
                "sagas behind the public session routes"
            )
        return cls(tuple(services), registry)

    @property
    def databases(self) -> list[Module]:
        """Every database of the deployment: each module's, and the saga store's."""
        return [*self.registry, SAGA_STORE]

    @property
    def edge(self) -> Service:
        return self.services[0]

    def owner(self, module: str) -> Service:
        return next(s for s in self.services if module in s.modules)

    def calls(self, service: Service) -> list[str]:
        """The modules `service` reaches in other processes: for the edge every one it does
        not run; for any other its modules' dependencies and the saga store (revocations)."""
        if service.edge:
            needed = {d.name for d in self.databases}
        else:
            modules = [self.registry[m] for m in service.modules if m != SAGA_STORE.name]
            needed = {dep for m in modules for dep in m.depends_on}
            needed.add(SAGA_STORE.name)
        return sorted(needed - set(service.modules))

    def may_call(self, caller: Service, module: str) -> bool:
        """Whether `module`'s process lets `caller` in (the verifier's own rule)."""
        return bool(allowed_callers(self.registry)[module] & set(caller.key_modules))

    def callers(self, service: Service) -> list[Service]:
        """The services that call `service`'s internal routes and may: the edge (it composes
        and asks every process for deletion progress), and any service that calls one of its
        modules with the registry's leave."""
        return [
            other
            for other in self.services
            if other is not service
            and (
                other.edge
                or any(m in self.calls(other) and self.may_call(other, m) for m in service.modules)
            )
        ]

    def environment(self, service: Service, url_of: Callable[[Service], str]) -> dict[str, str]:
        """What makes `service` this service: its modules, its name, its remotes."""
        env = {"BULKHEAD_SERVICE_NAME": service.name}
        if not service.edge:  # the edge runs all but its remotes, and so it composes
            env["BULKHEAD_MODULES"] = ",".join(m for m in service.modules if m != SAGA_STORE.name)
        for module in self.calls(service):
            env[f"BULKHEAD_REMOTE_{module.upper()}"] = url_of(self.owner(module))
        return env
