"""What the composition root needs to split: clients of remote modules, the verifier of
incoming service tokens, and the check that a split configuration can work at all."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..events.settings import EventsSettings
from ..module import Module
from ..setting import PREFIX, SettingsError
from ..settings import Settings
from .client import RemoteModule
from .service_tokens import ServiceSigner, ServiceVerifier
from .settings import RpcSettings

# Who may call any module besides the modules that depend on it (the registry's edges).
ALWAYS_ALLOWED = frozenset({"sagas", "composition", "analytics"})


def is_split(settings: Settings) -> bool:
    """Part of a deployment of several processes: it calls remotes or signs as a service."""
    return bool(settings.remotes) or settings.of(RpcSettings).service_name is not None


def check_split(settings: Settings) -> None:
    """A split needs events to cross processes and a name to sign calls with."""
    if not is_split(settings):
        return
    if settings.of(EventsSettings).bus_url is None:
        raise SettingsError(
            f"{PREFIX}BUS_URL",
            "this process is one of several (remote modules or a service name are set), so "
            "events must cross processes: set it to the Redis Streams bus, redis://...",
        )
    if settings.remotes and settings.of(RpcSettings).service_name is None:
        raise SettingsError(
            f"{PREFIX}SERVICE_NAME",
            "calls to remote modules are signed as this service: name it (e.g. edge) and "
            "create its key with `bulkhead keys create --service NAME`",
        )


def remote_clients(
    remote: Sequence[Module], settings: Settings, local: Sequence[Module]
) -> list[RemoteModule]:
    """A client per remote module, all signing with this process's one key."""
    if not remote:
        return []
    rpc = settings.of(RpcSettings)
    service = rpc.service_name or "bulkhead"
    # A process serving the whole public API (no BULKHEAD_MODULES: all but the remote ones)
    # composes across modules; a module's own service only calls what its modules need.
    composes = ["composition"] if settings.modules is None else []
    callers = [m.name for m in local] + composes
    try:
        signer = ServiceSigner(rpc.keys_path(settings.data_dir), service, callers)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{PREFIX}KEYS_DIR", str(exc)) from exc
    return [RemoteModule(m.name, m.contract, settings.remotes[m.name], signer, rpc) for m in remote]


def allowed_callers(registry: Iterable[Module]) -> dict[str, frozenset[str]]:
    """Who may call each module: the modules that depend on it, and the saga store,
    composition and analytics; the saga store (token revocations) and every process's
    event progress (`events`) by every module."""
    modules = list(registry)
    allowed = {
        m.name: ALWAYS_ALLOWED | {caller.name for caller in modules if m.name in caller.depends_on}
        for m in modules
    }
    allowed["sagas"] = ALWAYS_ALLOWED | {m.name for m in modules}
    allowed["events"] = ALWAYS_ALLOWED | {m.name for m in modules}  # deletion progress
    return allowed


def service_verifier(settings: Settings, registry: Iterable[Module]) -> ServiceVerifier:
    keys = settings.of(RpcSettings).keys_path(settings.data_dir)
    return ServiceVerifier(keys, allowed_callers(registry))
