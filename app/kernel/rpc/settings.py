"""Settings of calls between processes: who this process is, its keys, and the deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..setting import Duration, Integer, Milliseconds, Parsed, SettingsError, Text, setting
from .service_tokens import SERVICE_NAME_PATTERN


def _keys_dir(raw: str, variable: str) -> Path:
    if not raw.strip():
        raise SettingsError(variable, "is empty; unset it for DATA_DIR/keys or name a directory")
    return Path(raw)


@dataclass(frozen=True)
class RpcSettings:
    service_name: str | None = setting(
        "SERVICE_NAME",
        None,
        Text(SERVICE_NAME_PATTERN, "use lower-case letters, digits and -, e.g. edge"),
        "the service this process signs its internal calls as (`DATA_DIR/keys/NAME.key`); "
        "set it on every process of a split deployment",
        default_text="unset: a single process",
    )
    keys_dir: Path | None = setting(
        "KEYS_DIR",
        None,
        Parsed(_keys_dir),
        "where service keys live: this process's `NAME.key` (0600) and every caller's `.pub`",
        default_text="`DATA_DIR/keys`",
    )
    timeout_s: float = setting(
        "RPC_TIMEOUT_MS",
        10.0,
        Milliseconds(1),
        "the deadline of one call to a remote module, sent along and honoured on both sides",
    )
    breaker_threshold: int = setting(
        "RPC_BREAKER_FAILURES",
        5,
        Integer(1),
        "failures in a row after which calls to a remote fail fast",
    )
    breaker_open_s: int = setting(
        "RPC_BREAKER_OPEN",
        5,
        Duration(),
        "how long a remote's breaker stays open before one call probes it",
    )

    def keys_path(self, data_dir: Path) -> Path:
        return self.keys_dir if self.keys_dir is not None else data_dir / "keys"
