"""`bulkhead check`: the boundary rules that `lint-imports` cannot see.

1. every registered module is in the independence contract of `importlinter.ini`;
2. each module's metadata holds only its own tables, and its database nothing else;
3. every contract method is async and its parameters and result are serialisable;
4. on PostgreSQL, no module's role can connect to another module's database.
"""

from __future__ import annotations

import configparser
import inspect
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import asyncpg
import msgspec
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url

from .database import open_module_database
from .module import Module
from .registry import ModuleRegistry
from .rpc.schema import fingerprint, rpc_methods
from .settings import Settings


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, check: str, problems: list[str], passed: str) -> None:
        if problems:
            self.findings.extend(Finding(check, False, p) for p in problems)
        else:
            self.findings.append(Finding(check, True, passed))

    def render(self) -> str:
        lines = [f"{'PASS' if f.ok else 'FAIL'}  {f.check}: {f.detail}" for f in self.findings]
        failed = sum(not f.ok for f in self.findings)
        lines.append("boundaries hold" if not failed else f"{failed} boundary problem(s)")
        return "\n".join(lines)


async def run_checks(registry: ModuleRegistry, settings: Settings, lint_config: Path) -> Report:
    report = Report()
    modules = list(registry)
    report.add(
        "lint contract",
        lint_contract_problems(modules, lint_config),
        f"{len(modules)} modules are independent in {lint_config}",
    )
    report.add(
        "metadata", metadata_problems(modules), "each module's metadata holds its own tables"
    )
    report.add(
        "database tables",
        await database_table_problems(modules, settings),
        "each module's database holds only its own tables",
    )
    report.add(
        "contracts", contract_problems(modules), "every contract method is async and serialisable"
    )
    report.add(
        "rpc schemas",
        rpc_schema_problems(modules),
        "each contract's RPC schema derives from its Protocol: "
        + ", ".join(
            f"{m.name} {fingerprint(m.contract)}" for m in modules if not rpc_schema_problems([m])
        ),
    )
    postgres = [m.name for m in modules if settings.database_url(m.name).startswith("postgresql")]
    if len(postgres) > 1:
        report.add(
            "postgres roles",
            await cross_connection_problems(postgres, settings),
            f"no role of {', '.join(postgres)} can connect to another's database",
        )
    return report


def lint_contract_problems(modules: list[Module], lint_config: Path) -> list[str]:
    parser = configparser.ConfigParser()
    if not parser.read(lint_config):
        return [f"{lint_config} not found"]
    independent: set[str] | None = None
    for section in parser.sections():
        if parser.get(section, "type", fallback="") == "independence":
            independent = set(parser.get(section, "modules").split())
    if independent is None:
        return [f"{lint_config} has no independence contract"]
    expected = {f"app.modules.{m.name}" for m in modules}
    return [
        f"{name} is registered but not in the independence contract"
        for name in sorted(expected - independent)
    ] + [
        f"{name} is in the independence contract but not registered"
        for name in sorted(independent - expected)
    ]


def metadata_problems(modules: list[Module]) -> list[str]:
    problems: list[str] = []
    for a, b in itertools.combinations(modules, 2):
        if a.metadata is b.metadata:
            problems.append(f"{a.name} and {b.name} share one MetaData")
    for module in modules:
        for table in module.metadata.tables.values():
            for fk in table.foreign_keys:
                target = fk.target_fullname.split(".")[0]
                if target not in module.metadata.tables:
                    problems.append(
                        f"{module.name}.{table.name} has a foreign key to {target}, "
                        "which is not one of its tables"
                    )
    return problems


async def database_table_problems(modules: list[Module], settings: Settings) -> list[str]:
    problems: list[str] = []
    for module in modules:
        database = open_module_database(module.name, settings)
        try:
            async with database.engine.connect() as conn:
                present = await conn.run_sync(lambda c: set(sa_inspect(c).get_table_names()))
        except Exception as exc:  # an unreachable database is reported, not fatal here
            problems.append(f"{module.name}: cannot inspect its database ({type(exc).__name__})")
            continue
        finally:
            await database.dispose()
        allowed = set(module.metadata.tables) | {module.version_table}
        problems.extend(
            f"{module.name}'s database holds table {name!r}, which is not one of its tables"
            for name in sorted(present - allowed)
            if not module.owns_unmodelled(name)
        )
    return problems


def contract_problems(modules: list[Module]) -> list[str]:
    problems: list[str] = []
    for module in modules:
        contract = module.contract
        if not contract.__module__.startswith("contracts."):
            problems.append(f"{module.name}: contract {contract.__name__} is not in contracts/")
        implementation = _declared_service(module)
        if implementation is None:
            problems.append(f"{module.name}: its service factory does not declare what it returns")
        for name, method in _protocol_methods(contract):
            where = f"{contract.__name__}.{name}"
            if not inspect.iscoroutinefunction(method):
                problems.append(f"{where} is not async")
            problems.extend(_serialisation_problems(where, method))
            # A factory declared to return the Protocol is proved by mypy (`make test`).
            if implementation not in (None, contract) and not inspect.iscoroutinefunction(
                getattr(implementation, name, None)
            ):
                problems.append(f"{module.name}'s service does not implement {where} as async")
    return problems


def _declared_service(module: Module) -> object:
    """What the module's service factory says it returns (a Protocol or a class)."""
    try:
        return get_type_hints(module.service).get("return")
    except Exception:  # an annotation that does not resolve is as good as none
        return None


def rpc_schema_problems(modules: list[Module]) -> list[str]:
    """Both sides of a remote call derive the same schema from the Protocol (the client
    sends its digest with every call); here, that every method derives at all."""
    problems: list[str] = []
    for module in modules:
        try:
            derived = rpc_methods(module.contract)
        except Exception as exc:  # an annotation msgspec cannot express
            problems.append(f"{module.name}: no RPC schema ({type(exc).__name__}: {exc})")
            continue
        missing = {n for n, _ in _protocol_methods(module.contract)} - set(derived)
        problems += [f"{module.name}: {n} has no RPC route (is it async?)" for n in sorted(missing)]
    return problems


def _protocol_methods(contract: type) -> list[tuple[str, Any]]:
    return [
        (name, value)
        for name, value in vars(contract).items()
        if not name.startswith("_") and callable(value)
    ]


def _serialisation_problems(where: str, method: Any) -> list[str]:
    try:
        hints = get_type_hints(method, include_extras=True)
    except Exception as exc:  # unresolved annotations are themselves the problem
        return [f"{where}: annotations do not resolve ({exc})"]
    signature = inspect.signature(method)
    problems = [
        f"{where}: parameter {p.name} is not keyword-only"
        for p in list(signature.parameters.values())[1:]
        if p.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    for name, hint in hints.items():
        try:
            msgspec.json.schema(hint)
        except (TypeError, ValueError) as exc:
            label = "result" if name == "return" else f"parameter {name}"
            problems.append(f"{where}: {label} type is not serialisable ({exc})")
    return problems


async def cross_connection_problems(modules: list[str], settings: Settings) -> list[str]:
    problems: list[str] = []
    for own, other in itertools.permutations(modules, 2):
        credentials = make_url(settings.database_url(own))
        target = make_url(settings.database_url(other))
        try:
            conn = await asyncpg.connect(
                host=target.host,
                port=target.port or 5432,
                database=target.database,
                user=credentials.username,
                password=credentials.password,
                timeout=5,
            )
        except (
            asyncpg.InsufficientPrivilegeError,
            asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidPasswordError,
        ):
            continue  # refused, as it must be
        except (OSError, asyncpg.PostgresError) as exc:
            problems.append(f"{own} -> {other}: could not test ({type(exc).__name__}: {exc})")
            continue
        await conn.close()
        problems.append(f"the {own} role can connect to the {other} database")
    return problems
