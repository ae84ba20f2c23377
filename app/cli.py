"""`bulkhead ...`: serve, migrate, provision PostgreSQL, mint tokens and keys, generate
deployment files, settings, docs, check.

One file (~600 lines) on purpose: it reads as the list of commands, each a few lines that
hand over to the kernel, a contract or `app/deploy`; the work itself lives elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import click
import uvicorn
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.composition.analytics_rebuild import rebuild_analytics
from app.console import signin_link
from app.deploy import compose_secrets, kubernetes, secrets
from app.deploy.compose import ComposeOptions, compose
from app.deploy.files import write_compose, write_manifests
from app.deploy.k8s_common import Options
from app.deploy.layout import DEFAULT_LAYOUT, Layout, LayoutError
from app.kernel import migrations, provision
from app.kernel.auth import USER_ID_PATTERN, create_token, resolve_jwt_secret
from app.kernel.boundary_check import run_checks
from app.kernel.database import open_module_database
from app.kernel.events import EventSystem
from app.kernel.module import Module
from app.kernel.module_map import mermaid, replace_between_markers
from app.kernel.private_files import keep_files_private, set_private_umask
from app.kernel.rpc.service_tokens import SERVICE_NAME_PATTERN, create_key_pair
from app.kernel.rpc.settings import RpcSettings
from app.kernel.settings import Settings, SettingsError
from app.kernel.settings_report import effective_settings, markdown_table, render_effective
from app.main import (
    DATABASES,
    REGISTRY,
    SETTINGS_GROUPS,
    load_settings,
    local_modules,
    open_modules,
)
from app.sagas import SAGA_STORE, SAGA_TYPES
from contracts.errors import ContractError
from contracts.rag import DocumentCreate

WORKER_START_TIMEOUT_S = 120
_TTL = re.compile(r"(\d+)([smhd])")
_TTL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _settings(*, writes_files: bool = True) -> Settings:
    try:
        settings = load_settings()
        settings.check_modules(REGISTRY.names | {SAGA_STORE.name})
        REGISTRY.select(settings.modules, remote=settings.remotes)
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from exc
    if not writes_files:
        return settings
    set_private_umask()
    keep_files_private(settings.data_dir)
    return settings


@click.group()
def main() -> None:
    """Bulkhead: a backend for AI agents where every module owns its database."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--modules",
    help="the modules this process serves, e.g. rag (the same as BULKHEAD_MODULES)",
)
def serve(host: str, port: int, workers: int, modules: str | None) -> None:
    """Run the HTTP server: its modules' public routes and, for other processes, their
    contracts on /internal/v1 (BULKHEAD_MODULES, default: all but the remote ones)."""
    if modules is not None:
        os.environ["BULKHEAD_MODULES"] = modules  # the workers read the same settings
    settings = _settings()
    resolve_jwt_secret(settings)  # create the secret once, before workers race for it
    click.echo(f"Bulkhead on http://{host}:{port}  (docs: http://{host}:{port}/schema/swagger)")
    uvicorn.run(
        "app.startup:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app writes its own, with the request and trace ids
        # A worker answers the supervisor's pings only once its interpreter has imported
        # the app (seconds, more on a busy machine); at uvicorn's default of 5 s a slow
        # start is taken for a hang, killed and restarted, forever.
        timeout_worker_healthcheck=WORKER_START_TIMEOUT_S,
    )


@main.group()
def db() -> None:
    """Each module's own database: migrations and PostgreSQL provisioning."""


_MODULE_CHOICE = click.Choice(sorted(d.name for d in DATABASES))


def _chosen_databases(settings: Settings, names: tuple[str, ...]) -> list[Module]:
    """The modules named on the command line, or else those this process runs: in a split,
    each service migrates and provisions its own databases, not its remotes'."""
    if names:
        return [m for m in DATABASES if m.name in names]
    return local_modules(settings)


@db.command()
@click.option("--module", "module_names", multiple=True, type=_MODULE_CHOICE, help="repeatable")
@click.option("--timeout", default=600, show_default=True, help="seconds")
def wait(module_names: tuple[str, ...], timeout: int) -> None:
    """Wait until the databases of this process's modules (or those named) are migrated to
    the code's head revision: a pod's init step while its migration Jobs run."""
    settings = _settings()
    modules = _chosen_databases(settings, module_names)

    async def behind() -> list[str]:
        late = []
        for module in modules:
            database = open_module_database(module.name, settings)
            try:
                current = await migrations.current_revision(module, database)
                if current != migrations.head_revision(module):
                    late.append(module.name)
            except Exception as exc:  # not reachable yet: that is waiting too
                late.append(f"{module.name} ({type(exc).__name__})")
            finally:
                await database.dispose()
        return late

    deadline = time.monotonic() + timeout
    while late := asyncio.run(behind()):
        if time.monotonic() > deadline:
            raise click.ClickException(f"not migrated after {timeout}s: {', '.join(late)}")
        click.echo(f"waiting for the migrations of {', '.join(late)}", err=True)
        time.sleep(2)
    click.echo(f"migrated: {', '.join(m.name for m in modules)}")


@db.command()
@click.option("--module", "module_names", multiple=True, type=_MODULE_CHOICE, help="repeatable")
def upgrade(module_names: tuple[str, ...]) -> None:
    """Apply the migrations of the modules this process runs (BULKHEAD_MODULES, the saga
    store unless it is remote), or of the modules named, each to its own database."""
    settings = _settings()
    modules = _chosen_databases(settings, module_names)
    try:
        revisions = asyncio.run(migrations.upgrade_modules(modules, settings))
    except migrations.MigrationRefused as exc:
        raise click.ClickException(str(exc)) from exc
    for name, revision in revisions.items():
        click.echo(f"{name}: at {revision}")


@db.command()
@click.option(
    "--module", "module_name", required=True, type=click.Choice(sorted(d.name for d in DATABASES))
)
@click.option("-m", "--message", required=True, help="what the revision changes")
def revision(module_name: str, message: str) -> None:
    """Autogenerate the next migration of one module from its models."""
    settings = _settings()
    module = next(d for d in DATABASES if d.name == module_name)

    async def run() -> None:
        database = open_module_database(module.name, settings)
        try:
            await migrations.create_revision(module, database, message)
        finally:
            await database.dispose()

    asyncio.run(run())


@db.command("provision")
@click.option("--admin-url", required=True, help="postgresql://postgres@127.0.0.1:5432/postgres")
@click.option("--prefix", default="bulkhead", show_default=True)
@click.option(
    "--output", type=click.Path(path_type=Path), help="default: DATA_DIR/database-urls.json"
)
@click.option("--module", "module_names", multiple=True, type=_MODULE_CHOICE, help="repeatable")
def provision_command(
    admin_url: str, prefix: str, output: Path | None, module_names: tuple[str, ...]
) -> None:
    """Create a role and a database per module this process runs (or per module named);
    write their URLs to a 0600 file, keeping the URLs already in it."""
    settings = _settings()
    target = output or settings.data_dir / "database-urls.json"
    extensions = {m.name: m.postgres_extensions for m in DATABASES}
    try:
        done = asyncio.run(
            provision.provision(
                admin_url,
                sorted(m.name for m in _chosen_databases(settings, module_names)),
                prefix=prefix,
                output=target,
                extensions=extensions,
            )
        )
    except (OSError, ValueError, asyncpg.PostgresError) as exc:
        raise click.ClickException(f"provisioning failed: {exc}") from exc
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {len(done.urls)} module URLs to {target} (mode 0600)")
    if output is not None:
        click.echo(f"point the server at it: BULKHEAD_DATABASE_URLS_FILE={target}")


@main.command("console")
@click.option("--user", "user_id", default="admin", show_default=True, help="the admin signing in")
@click.option(
    "--url",
    "base_url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="the server as your browser reaches it",
)
def console_command(user_id: str, base_url: str) -> None:
    """Print a link that signs an admin in to the console: once, within 10 minutes."""
    if not USER_ID_PATTERN.fullmatch(user_id):
        raise click.BadParameter("1-128 letters, digits, '.', '_', '@', '-'", param_hint="--user")
    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("an http:// or https:// URL", param_hint="--url")
    click.echo(signin_link(resolve_jwt_secret(_settings()), base_url, user_id))


@main.group()
def token() -> None:
    """Bearer tokens for the API."""


@token.command("create")
@click.option("--user", "user_id", required=True)
@click.option("--admin", is_flag=True, help="add the admin claim")
@click.option("--ttl", default="7d", show_default=True, help="lifetime: 30m, 12h, 7d")
@click.option("--client", "client_id", help="the agent or app acting for the user (tool policy)")
def create_token_command(user_id: str, admin: bool, ttl: str, client_id: str | None) -> None:
    """Print a signed token, alone on stdout."""
    settings = _settings()
    match = _TTL.fullmatch(ttl)
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter(
            "use a positive number and a unit: 30m, 12h, 7d", param_hint="--ttl"
        )
    longest = timedelta(seconds=settings.token_max_ttl_s)
    amount = min(int(match.group(1)), 10**9)  # past any bound below; keeps timedelta in range
    lifetime = timedelta(**{_TTL_UNITS[match.group(2)]: amount})
    if lifetime > longest:
        raise click.BadParameter(
            f"at most {longest.days}d (BULKHEAD_TOKEN_MAX_TTL); mint a new token when it ends",
            param_hint="--ttl",
        )
    try:
        click.echo(
            create_token(
                resolve_jwt_secret(settings),
                user_id,
                admin=admin,
                ttl=lifetime,
                client_id=client_id,
            )
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--user/--client") from exc


@main.group()
def rag() -> None:
    """The RAG module's knowledge base: ingest files, re-embed with another model."""


@rag.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def rag_ingest(paths: tuple[Path, ...]) -> None:
    """Ingest text files (of a folder: its .txt and .md files); the source is the path."""
    files = sorted(f for p in paths for f in ([p] if p.is_file() else _text_files(p)))
    settings = _settings()

    async def run() -> None:
        async with open_modules(settings) as wiring:
            api = wiring.contracts.rag
            with _progress() as progress:
                task = progress.add_task("ingesting", total=len(files))
                for path in files:
                    text = path.read_text(encoding="utf-8", errors="replace")
                    if not text.strip():
                        progress.console.print(f"  skipped {path}: empty")
                    else:
                        (result,) = await api.ingest(
                            documents=[DocumentCreate(source=path.as_posix(), text=text)]
                        )
                        progress.console.print(
                            f"{result.status:>9} {path} ({result.chunks} chunks)"
                        )
                    progress.advance(task)

    _run_contract_calls(run)


@rag.command("reindex")
@click.option("--model", "model_name", required=True, help="e.g. all-minilm-l6-v2-int8")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 1000))
def rag_reindex(model_name: str, batch_size: int) -> None:
    """Embed every chunk with MODEL, then search with it. Safe to interrupt and rerun."""
    settings = _settings()

    async def run() -> None:
        async with open_modules(settings) as wiring:
            api = wiring.contracts.rag
            with _progress() as progress:
                step = await api.reindex_step(model_name=model_name, batch_size=batch_size)
                task = progress.add_task(f"embedding with {model_name}", total=step.total)
                while not step.active:
                    progress.update(task, completed=step.embedded, total=step.total)
                    step = await api.reindex_step(model_name=model_name, batch_size=batch_size)
                progress.update(task, completed=step.total, total=step.total)
        click.echo(f"{model_name} is active: {step.embedded} of {step.total} chunks embedded")

    _run_contract_calls(run)


@main.group()
def analytics() -> None:
    """The analytics read model."""


@analytics.command("rebuild")
def analytics_rebuild() -> None:
    """Empty the read model and rebuild it from every module's retained events."""
    settings = _settings()

    async def run() -> None:
        async with open_modules(settings) as wiring:
            if not wiring.contracts.runs("analytics"):
                raise click.ClickException("the analytics module is not enabled here")
            with _progress() as progress:
                task = progress.add_task("replaying events", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                applied = await rebuild_analytics(wiring.contracts, advance)
        click.echo(f"analytics rebuilt from {applied} events")

    _run_contract_calls(run)


@main.group()
def events() -> None:
    """Relaying the modules' outboxes to the event bus."""


@events.command("relay")
@click.option("--drain", is_flag=True, help="relay what is there, wait until applied, and exit")
def events_relay(drain: bool) -> None:
    """Relay every enabled module's outbox and run its consumers, without the HTTP server."""
    settings = _settings()

    async def run() -> None:
        async with open_modules(settings) as wiring:
            system = EventSystem(settings, wiring.modules)
            await system.start_background()
            try:
                if drain:
                    await system.settle(timeout_s=600)
                else:
                    stop = asyncio.Event()
                    for signal_number in (signal.SIGINT, signal.SIGTERM):
                        asyncio.get_running_loop().add_signal_handler(signal_number, stop.set)
                    await stop.wait()
            finally:
                await system.stop_background()
        if drain:
            click.echo("every event is applied")

    _run_contract_calls(run)


def _text_files(folder: Path) -> list[Path]:
    return [f for f in folder.rglob("*") if f.is_file() and f.suffix in (".txt", ".md")]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )


def _run_contract_calls(run: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        asyncio.run(run())
    except ContractError as exc:
        raise click.ClickException(exc.message) from exc


ARCHITECTURE_DOC = Path("docs/architecture.md")


def module_map() -> str:
    sagas = {name: list(t.modules) for name, t in SAGA_TYPES.items()}
    composed = [m.name for m in REGISTRY]  # the dashboard asks every module
    return mermaid(list(REGISTRY), SAGA_STORE, sagas, composed)


@main.command()
@click.option("--check", is_flag=True, help="exit 1 if the diagram in the file is out of date")
@click.option("--file", "path", type=click.Path(path_type=Path), default=ARCHITECTURE_DOC)
def docs(check: bool, path: Path) -> None:
    """Draw the module map from the registry into docs/architecture.md (Mermaid)."""
    current = path.read_text()
    updated = replace_between_markers(current, module_map())
    if check:
        if updated != current:
            raise click.ClickException(f"{path}'s module map is stale: run `bulkhead docs`")
        click.echo(f"{path}: the module map is current")
        return
    path.write_text(updated)
    click.echo(f"{path}: module map drawn from the registry")


@main.group()
def keys() -> None:
    """Service keys: what a process signs its calls to other processes' modules with."""


@keys.command("create")
@click.option("--service", required=True, help="the service name, e.g. edge or rag")
@click.option(
    "--modules",
    help="what the service runs, e.g. conversation,billing,sagas (add composition for an "
    "edge): its tokens can claim no other module",
)
def keys_create(service: str, modules: str | None) -> None:
    """Write NAME.key (0600) and NAME.pub into BULKHEAD_KEYS_DIR (default DATA_DIR/keys),
    and with --modules NAME.modules, which binds the key to those modules."""
    if not re.fullmatch(SERVICE_NAME_PATTERN, service):
        raise click.ClickException(f"{service!r}: use lower-case letters, digits and -")
    bound = None
    if modules is not None:
        bound = [m.strip() for m in modules.split(",") if m.strip()]
        known = REGISTRY.names | {SAGA_STORE.name, "composition"}
        if unknown := sorted(set(bound) - known):
            raise click.ClickException(
                f"--modules: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
    settings = _settings()
    keys_dir = settings.of(RpcSettings).keys_path(settings.data_dir)
    try:
        private, public = create_key_pair(keys_dir, service, bound)
    except FileExistsError:
        raise click.ClickException(
            f"{keys_dir / service}.key exists; it is never overwritten"
        ) from None
    click.echo(f"{private} (private: this service only)\n{public} (public: every service it calls)")


def _layout(specs: str) -> Layout:
    try:
        return Layout.parse(specs.split())
    except LayoutError as exc:
        raise click.ClickException(f"--layout: {exc}") from exc


@main.group()
def deploy() -> None:
    """Deployment files for a split, generated from the module registry."""


@deploy.command("k8s")
@click.option(
    "--layout",
    default=" ".join(DEFAULT_LAYOUT),
    show_default=True,
    help="services, space-separated: NAME=module,module or a lone module; the first is the "
    "edge (it serves the public API and runs the saga store)",
)
@click.option("--image", required=True, help="the Bulkhead image every service runs")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--namespace", default="bulkhead", show_default=True)
@click.option("--host", default="bulkhead.example.com", show_default=True, help="Ingress host")
@click.option(
    "--external-database",
    "external",
    multiple=True,
    type=_MODULE_CHOICE,
    help="repeatable: this module's database is managed elsewhere (its Secret has the URL)",
)
@click.option("--external-databases", "all_external", is_flag=True, help="every module's is")
def deploy_k8s(
    layout: str,
    image: str,
    out: Path,
    namespace: str,
    host: str,
    external: tuple[str, ...],
    all_external: bool,
) -> None:
    """Write the Kubernetes manifests for a layout: one file per object, in apply order."""
    parsed = _layout(layout)
    managed = {d.name for d in parsed.databases} if all_external else set(external)
    options = Options(image, namespace, host, frozenset(managed))
    written = write_manifests(kubernetes.manifests(parsed, options), out)
    click.echo(f"wrote {len(written)} manifests to {out}; secrets: `bulkhead deploy secrets`")


@deploy.command("compose")
@click.option("--layout", default=" ".join(DEFAULT_LAYOUT), show_default=True)
@click.option(
    "--image",
    default="${BULKHEAD_IMAGE:-bulkhead:latest}",
    show_default=True,
    help="every service's",
)
@click.option("--port", default=8000, show_default=True, help="the edge's port on the host")
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("compose.yaml"), show_default=True
)
def deploy_compose(layout: str, image: str, port: int, out: Path) -> None:
    """Write compose.yaml for a layout on one Docker host; credentials: `deploy secrets --compose`."""
    write_compose(compose(_layout(layout), ComposeOptions(image, port)), out)
    click.echo(f"wrote {out}; credentials: `bulkhead deploy secrets --compose --out .env`")


@deploy.command("secrets")
@click.option("--layout", default=" ".join(DEFAULT_LAYOUT), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="never committed")
@click.option("--namespace", default="bulkhead", show_default=True)
@click.option(
    "--database-url",
    "database_urls",
    multiple=True,
    metavar="MODULE=URL",
    help="a managed database for a module (with `deploy k8s --external-databases`)",
)
@click.option("--compose", "for_compose", is_flag=True, help="write --out as compose.yaml's .env")
def deploy_secrets(
    layout: str, out: Path, namespace: str, database_urls: tuple[str, ...], for_compose: bool
) -> None:
    """Write the Secrets the manifests reference (mode 0600): JWT secret, database
    credentials, service keys; with --compose, the .env of compose.yaml. Values already in
    --out are kept."""
    _settings()  # the private umask: 0700 directory, 0600 files
    parsed = _layout(layout)
    if for_compose:
        if database_urls:
            raise click.ClickException("--database-url: for Kubernetes only; compose runs its own")
        values = compose_secrets.generate(parsed, compose_secrets.read(out))
        compose_secrets.write(out, values)
        click.echo(f"wrote {len(values)} credentials to {out} (mode 0600): never commit it")
        return
    external = dict(u.split("=", 1) for u in database_urls if "=" in u)
    if unknown := sorted(set(external) - {d.name for d in DATABASES}):
        raise click.ClickException(f"--database-url: no module {', '.join(unknown)}")
    made = secrets.generate(
        parsed, Options(image="", namespace=namespace), secrets.read_existing(out), external
    )
    write_manifests(made, out)
    click.echo(f"wrote {len(made)} Secrets to {out} (mode 0600): apply them; never commit them")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="print the README's table of every setting instead")
def settings_command(markdown: bool) -> None:
    """The effective settings of this process: value (secrets masked) and where it came from."""
    if markdown:
        click.echo(markdown_table(SETTINGS_GROUPS))
        return
    settings = _settings(writes_files=False)
    databases = [m.name for m in DATABASES]
    click.echo(render_effective(effective_settings(settings, SETTINGS_GROUPS, databases)))


@main.command()
@click.option(
    "--lint-config",
    type=click.Path(path_type=Path),
    default=Path("importlinter.ini"),
    show_default=True,
)
def check(lint_config: Path) -> None:
    """Verify the module boundaries that import-linter cannot see."""
    report = asyncio.run(run_checks(REGISTRY, _settings(), lint_config))
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)
