"""The set of modules one process knows about, and which of them it runs."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence

from .module import Module
from .settings import PREFIX, SettingsError


class ModuleRegistry:
    def __init__(self, modules: Iterable[Module]) -> None:
        self._modules = {m.name: m for m in modules}
        for module in self._modules.values():
            for dep in module.depends_on:
                if dep not in self._modules:
                    raise LookupError(f"module {module.name} depends on unknown module {dep}")

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    @property
    def names(self) -> set[str]:
        return set(self._modules)

    def select(self, names: Sequence[str] | None, remote: Collection[str] = ()) -> list[Module]:
        """The modules to run, dependencies first; `None` means all but the `remote` ones.

        A module whose dependency neither runs here nor is configured as a remote cannot
        work, so that is a settings error, not a crash later.
        """
        chosen = self.names - set(remote) if names is None else set(names)
        for name in sorted(chosen):
            if name not in self._modules:
                raise SettingsError(f"{PREFIX}MODULES", f"unknown module {name!r}")
            missing = [
                d for d in self._modules[name].depends_on if d not in chosen and d not in remote
            ]
            if missing:
                raise SettingsError(
                    f"{PREFIX}MODULES",
                    f"module {name} calls {', '.join(missing)}, which this process does not run "
                    f"(serve it here, or set {PREFIX}REMOTE_{missing[0].upper()})",
                )
        return [m for m in self._dependency_order() if m.name in chosen]

    def _dependency_order(self) -> list[Module]:
        ordered: list[Module] = []
        visiting: set[str] = set()

        def visit(module: Module) -> None:
            if module in ordered:
                return
            if module.name in visiting:
                raise LookupError(f"dependency cycle through module {module.name}")
            visiting.add(module.name)
            for dep in module.depends_on:
                visit(self._modules[dep])
            ordered.append(module)

        for module in self._modules.values():
            visit(module)
        return ordered
