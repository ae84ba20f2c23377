"""The kernel's own settings, and the record of every group of settings this process has.

Each module declares its settings in its own `settings.py` (with `setting()`, written
once); the kernel keeps only what every module shares: where data lives, which modules
run, the databases, tokens, Redis and the embedder. `Settings.of(Group)` hands a module its
own group, parsed from the same environment. A wrong value fails at start with a
`SettingsError` naming the variable, so a typo in deployment is one clear line.

One file (~350 lines) on purpose: most of it is the kernel's declarations, six lines each
(variable, default, kind, meaning), and the loading that reads them; split up, the list a
reader scans for "what can I set" would be in pieces. The parsers of its few composite
values (module lists, in-flight limits, database URLs) are used nowhere else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .setting import (
    PREFIX,
    Choice,
    Duration,
    Integer,
    Milliseconds,
    Parsed,
    SettingsError,
    Source,
    Text,
    Url,
    declared_fields,
    mask_credentials,
    parse_group,
    setting,
    source_of,
)

G = TypeVar("G")

DATABASE_URL_PREFIX = f"{PREFIX}DATABASE_URL_"
URLS_FILE_VARIABLE = f"{PREFIX}DATABASE_URLS_FILE"
REMOTE_PREFIX = f"{PREFIX}REMOTE_"
_SQLITE_SCHEME = "sqlite+aiosqlite"
_POSTGRES_SCHEMES = ("postgresql+asyncpg", "postgresql", "postgres")
DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2-int8"  # served by app/kernel/embedding/onnx.py

__all__ = ["PREFIX", "Settings", "SettingsError", "mask_credentials", "normalise_database_url"]


def _data_dir(raw: str, variable: str) -> Path:
    if not raw.strip():
        raise SettingsError(
            variable,
            "is empty, which would mean the current directory; unset it for ./var or name a directory",
        )
    return Path(raw)


def _modules(raw: str, variable: str) -> tuple[str, ...] | None:
    if raw.strip() == "all":
        return None
    names = tuple(n.strip().lower() for n in raw.split(",") if n.strip())
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise SettingsError(variable, f"{name!r} is not a module name")
    return names or None


def _in_flight_limits(raw: str, variable: str) -> Mapping[str, int]:
    limits = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        module, _, limit = entry.partition("=")
        if not module.strip().isidentifier() or not limit.strip().isdigit() or int(limit) < 1:
            raise SettingsError(
                variable, f"{raw!r}; write module=number, comma-separated, e.g. rag=32,tools=8"
            )
        limits[module.strip().lower()] = int(limit)
    return limits


def _jwt_secret(raw: str, variable: str) -> str:
    if len(raw) < 32:
        raise SettingsError(variable, "must be at least 32 characters long")
    return raw


REDIS_URL = Url(("redis", "rediss", "unix"))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(
        "DATA_DIR",
        Path("var"),
        Parsed(_data_dir),
        "SQLite files, the generated JWT secret, the provisioned URLs file; kept 0700 with "
        "files 0600 (an empty value is refused)",
        default_text="./var",
        empty_is_unset=False,
    )
    modules: tuple[str, ...] | None = setting(
        "MODULES",
        None,
        Parsed(_modules, lambda names: ",".join(names or ())),
        "comma-separated modules this process runs, e.g. `conversation,billing`",
        default_text="all",
    )
    # Explicit, per module: BULKHEAD_DATABASE_URL_<MODULE> and the URLs file (`from_env`).
    database_urls: Mapping[str, str] = field(default_factory=dict)
    # Modules served elsewhere, by base URL: BULKHEAD_REMOTE_<MODULE> and the URLs file.
    remotes: Mapping[str, str] = field(default_factory=dict)
    db_pool_size: int = setting(
        "DB_POOL_SIZE", 5, Integer(1), "connections per module pool (and as many overflow)"
    )
    max_in_flight: Mapping[str, int] = setting(
        "MAX_IN_FLIGHT",
        {},
        Parsed(_in_flight_limits, lambda limits: ",".join(f"{m}={n}" for m, n in limits.items())),
        "calls a module takes at once, per worker, where not its own (`rag=32,tools=8`); "
        "one more is refused with 503 and Retry-After, so a slow module cannot starve others",
        default_text="each module's own: 64; rag and tools 16",
    )
    db_connect_timeout_s: float = setting(
        "DB_CONNECT_TIMEOUT_MS",
        1.0,
        Milliseconds(10),
        "the longest a request waits for a working connection to a module's PostgreSQL "
        "database (pool, connecting, the liveness check); then that module answers 503",
    )
    db_statement_timeout_s: float = setting(
        "DB_STATEMENT_TIMEOUT_MS",
        30.0,
        Milliseconds(100),
        "the longest one statement may run on PostgreSQL (also the client's deadline for a "
        "server that stops answering)",
    )
    db_busy_timeout_s: float = setting(
        "DB_BUSY_TIMEOUT_MS",
        5.0,
        Milliseconds(0),
        "how long a SQLite write waits for another process's write to finish; then 503",
    )
    db_breaker_failures: int = setting(
        "DB_BREAKER_FAILURES",
        3,
        Integer(1),
        "connection failures in a row after which a module's database fails fast (503)",
    )
    db_breaker_open_s: float = setting(
        "DB_BREAKER_OPEN_MS",
        2.0,
        Milliseconds(10),
        "how long a module database's breaker stays open before one request probes it",
    )
    jwt_secret: str | None = setting(
        "JWT_SECRET",
        None,
        Parsed(_jwt_secret),
        "HS256 signing secret, at least 32 characters; set it when several hosts serve",
        secret=True,
        default_text="generated into `DATA_DIR/jwt-secret` (mode 0600)",
    )
    token_max_ttl_s: int = setting(
        "TOKEN_MAX_TTL",
        30 * 86_400,
        Duration(),
        "the longest lifetime `bulkhead token create --ttl` accepts",
    )
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        REDIS_URL,
        "`redis://…`; working memory lives there when set (in the memory module's own "
        "database otherwise)",
        secret=True,
    )
    redis_key_prefix: str = setting(
        "REDIS_KEY_PREFIX",
        "bulkhead",
        Text(r"[A-Za-z0-9_.:-]{1,64}", "use letters, digits, _.:-"),
        "every Redis key starts with it (then the module's name); nothing else is read or written",
    )
    log_level: str = setting(
        "LOG_LEVEL",
        "INFO",
        Choice(("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
        "`DEBUG`, `INFO`, `WARNING`, `ERROR`",
    )
    embedding_model: str = setting(
        "EMBEDDING_MODEL",
        DEFAULT_EMBEDDING_MODEL,
        Text(
            r"all-minilm-l6-v2-int8|hashing-\d{1,5}|openai:[\w./:-]{1,200}",
            "use all-minilm-l6-v2-int8, openai:<model> or hashing-<dims>",
        ),
        "the model a fresh index starts with: `all-minilm-l6-v2-int8` (offline, CPU), "
        "`openai:<model>` or `hashing-<dims>` (tests only); change models later with "
        "`bulkhead rag reindex`",
    )
    embeddings_url: str | None = setting(
        "EMBEDDINGS_URL",
        None,
        Url(("http", "https")),
        "base URL of an OpenAI-compatible API for `openai:<model>`, e.g. "
        "`http://localhost:11434/v1` (Ollama), vLLM, TEI, OpenAI",
    )
    embeddings_api_key: str | None = setting(
        "EMBEDDINGS_API_KEY",
        None,
        Text(),
        "bearer key for that endpoint, if it needs one",
        secret=True,
    )
    # Every BULKHEAD_* variable this was read from: each group parses its own from it.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    database_url_sources: Mapping[str, Source] = field(default_factory=dict, repr=False)
    # Groups given explicitly (tests, `with_values`), else parsed on first use and kept.
    groups: dict[type, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = {k: v for k, v in (os.environ if environ is None else environ).items()}
        env = {k: v for k, v in env.items() if k.startswith(PREFIX)}
        kernel = parse_group(cls, env)
        urls, sources, remotes = _database_urls(env, kernel.data_dir)
        return replace(
            kernel, database_urls=urls, remotes=remotes, environ=env, database_url_sources=sources
        )

    def of(self, group: type[G]) -> G:
        """A group of settings (a module's own), parsed from this process's environment."""
        if group not in self.groups:
            self.groups[group] = parse_group(group, self.environ)
        found: G = self.groups[group]
        return found

    def with_values(self, group: type[G], **changes: Any) -> Settings:
        """These settings with some of a group's values changed (tests, benchmarks)."""
        changed = replace(self.of(group), **changes)  # type: ignore[type-var]  # groups are dataclasses
        return replace(self, groups={**self.groups, group: changed})

    def source(self, group: type, variable: str) -> Source:
        """Where the value of `variable` in `group` came from."""
        for _, declared in declared_fields(group):
            if declared.variable == variable:
                return source_of(declared, self.environ)
        raise LookupError(variable)

    def database_url(self, module: str) -> str:
        """The module's own database: configured URL, else a SQLite file of its own."""
        if module in self.database_urls:
            return self.database_urls[module]
        return f"{_SQLITE_SCHEME}:///{(self.data_dir / f'{module}.sqlite3').resolve()}"

    def check_modules(self, known: set[str]) -> None:
        """Reject module names in settings that no registered module has."""
        unknown = sorted(set(self.modules or ()) - known)
        if unknown:
            raise SettingsError(
                f"{PREFIX}MODULES",
                f"unknown module(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            )
        for module in sorted(set(self.database_urls) - known):
            raise SettingsError(
                f"{DATABASE_URL_PREFIX}{module.upper()}",
                f"no module named {module!r}; known: {', '.join(sorted(known))}",
            )
        for module in sorted(set(self.max_in_flight) - known):
            raise SettingsError(
                f"{PREFIX}MAX_IN_FLIGHT",
                f"no module named {module!r}; known: {', '.join(sorted(known))}",
            )
        for module in sorted(set(self.remotes) - known):
            raise SettingsError(
                f"{REMOTE_PREFIX}{module.upper()}",
                f"no module named {module!r}; known: {', '.join(sorted(known))}",
            )
        for module in sorted(set(self.remotes) & set(self.modules or known)):
            if self.modules is not None:
                raise SettingsError(
                    f"{REMOTE_PREFIX}{module.upper()}",
                    f"{module} is both served here (BULKHEAD_MODULES) and remote; choose one",
                )


def _database_urls(
    env: Mapping[str, str], data_dir: Path
) -> tuple[dict[str, str], dict[str, Source], dict[str, str]]:
    """Per module: the URLs file (named, or DATA_DIR/database-urls.json), then variables.
    Keys of the form BULKHEAD_REMOTE_<MODULE>, in the file or the environment, are remotes."""
    urls: dict[str, str] = {}
    sources: dict[str, Source] = {}
    remotes: dict[str, str] = {}
    named = env.get(URLS_FILE_VARIABLE)
    urls_file = Path(named) if named else data_dir / "database-urls.json"
    entries: dict[str, str] = {}
    if named or urls_file.exists():
        entries = _read_urls_file(URLS_FILE_VARIABLE, urls_file)
    for key, url in entries.items():
        if key.upper().startswith(REMOTE_PREFIX):
            remotes[key.upper().removeprefix(REMOTE_PREFIX).lower()] = url
        else:
            urls[key], sources[key] = url, "file"
    for name, value in env.items():
        if name.startswith(DATABASE_URL_PREFIX) and value:
            module = name.removeprefix(DATABASE_URL_PREFIX).lower()
            urls[module], sources[module] = value, "environment"
        if name.startswith(REMOTE_PREFIX) and value:
            remotes[name.removeprefix(REMOTE_PREFIX).lower()] = value
    for module, url in urls.items():
        urls[module] = normalise_database_url(f"{DATABASE_URL_PREFIX}{module.upper()}", url)
    for module, url in remotes.items():
        remotes[module] = Url(("http", "https")).parse(url, f"{REMOTE_PREFIX}{module.upper()}")
    return urls, sources, remotes


def normalise_database_url(variable: str, url: str) -> str:
    """Accept `postgresql://` as written by humans; run it through asyncpg."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(variable, f"{url!r} is not a URL (expected scheme://...)")
    if scheme == _SQLITE_SCHEME or scheme == "sqlite":
        if rest in ("", "/", "/:memory:"):
            raise SettingsError(variable, "a module's SQLite database must be a file path")
        return f"{_SQLITE_SCHEME}://{rest}"
    if scheme in _POSTGRES_SCHEMES:
        return f"postgresql+asyncpg://{rest}"
    raise SettingsError(
        variable, f"unsupported scheme {scheme!r}; use sqlite+aiosqlite:// or postgresql://"
    )


def _read_urls_file(variable: str, path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(variable, f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SettingsError(variable, f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SettingsError(variable, f"{path} must be a JSON object of module -> URL")
    return {str(k).lower(): v for k, v in data.items()}
