"""Every `BULKHEAD_*` environment variable is read here and nowhere else.

A wrong value fails at start with a `SettingsError` naming the variable, so a typo in
deployment surfaces as one clear line instead of a stack trace at the first request.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "BULKHEAD_"
DATABASE_URL_PREFIX = f"{PREFIX}DATABASE_URL_"
_SQLITE_SCHEME = "sqlite+aiosqlite"
_POSTGRES_SCHEMES = ("postgresql+asyncpg", "postgresql", "postgres")
DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2-int8"  # served by app/kernel/onnx_embedder.py
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


# `user:password@` in a URL, well-formed or not: whatever lies between a colon and an @.
_CREDENTIALS = re.compile(r":[^:@\s'\"/]*@")


def mask_credentials(text: str) -> str:
    """`redis://u:secret@host` -> `redis://u:***@host`, wherever such a part appears."""
    return _CREDENTIALS.sub(":***@", text)


class SettingsError(ValueError):
    """A `BULKHEAD_*` variable has a value the server cannot use. The message never
    carries a password: URLs in it are masked."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {mask_credentials(problem)}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    modules: tuple[str, ...] | None = None  # None: every registered module
    database_urls: Mapping[str, str] = field(default_factory=dict)  # explicit, per module
    jwt_secret: str | None = None
    token_max_ttl_s: int = 30 * 86_400  # the longest lifetime `bulkhead token create` mints
    redis_url: str | None = None
    db_pool_size: int = 5
    log_level: str = "INFO"
    default_max_active_sessions: int = 20
    default_max_sessions_per_day: int = 200
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embeddings_url: str | None = None
    embeddings_api_key: str | None = None
    rag_chunk_size: int = 800
    rag_chunk_overlap: int = 120
    # Client id -> tool names or patterns it may run; "*" is every client without its own.
    tools_allowlist: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"*": ("*",)})
    tools_rate_limit: tuple[int, int] = (60, 60)  # calls per window (seconds)
    tools_max_concurrent: int = 8
    tools_max_concurrent_per_user: int = 2  # a user's share of those sandboxes
    tools_max_params_bytes: int = 262_144  # a call's params, as JSON
    tools_max_output_bytes: int = 1_048_576
    sandbox_bwrap: str = "bwrap"
    sandbox_python: str = "/usr/bin/python3"
    sandbox_uid: int = 64_999  # who sandboxes run as when the server runs as root
    sandbox_cgroup: str = "auto"  # where run cgroups are made: auto, off, or a v2 cgroup dir
    redis_key_prefix: str = "bulkhead"  # every key a module writes starts with it
    memory_working_ttl_s: int = 3_600
    memory_working_max_items: int = 50
    memory_seed_count: int = 5
    memory_half_life_s: int = 30 * 86_400
    saga_max_attempts: int = 5  # per step, actions and compensations alike
    saga_backoff_s: float = 0.2  # first retry's delay; doubles, with jitter, up to 5 s
    saga_step_timeout_s: float = 10.0
    saga_request_deadline_s: float = 5.0  # past it, POST /v1/sessions answers 202
    saga_lease_s: int = 15
    saga_crash_at: str | None = None  # fault injection: a crash point's name (tests only)
    composition_timeout_s: float = 2.0  # each part of a composed read, separately
    bus_url: str | None = None  # None: the in-process bus; redis://...: Redis Streams
    events_batch_size: int = 100  # outbox rows a relay claims at once
    events_lease_s: int = 30  # how long a relay's claim holds before another may take it
    events_poll_s: float = 0.5  # how often a relay looks for rows nobody woke it for
    events_retention_s: int = 7 * 86_400  # published events kept for replay, then purged
    events_dead_letter_retention_s: int = 30 * 86_400  # then purged, resolved or not
    events_max_attempts: int = 5  # per event and consumer, before it is dead-lettered
    events_backoff_s: float = 0.1  # first retry's delay; doubles
    bus_claim_idle_s: int = 30  # Redis: pending entries idle this long are reclaimed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = _parse_data_dir(env.get(f"{PREFIX}DATA_DIR"))
        urls_file_var = f"{PREFIX}DATABASE_URLS_FILE"
        urls_file = Path(env[urls_file_var]) if env.get(urls_file_var) else None

        urls: dict[str, str] = {}
        if urls_file is not None:
            urls.update(_read_urls_file(urls_file_var, urls_file))
        elif (data_dir / "database-urls.json").exists():
            urls.update(_read_urls_file(urls_file_var, data_dir / "database-urls.json"))
        for name, value in env.items():
            if name.startswith(DATABASE_URL_PREFIX) and value:
                urls[name.removeprefix(DATABASE_URL_PREFIX).lower()] = value
        for module, url in urls.items():
            urls[module] = normalise_database_url(f"{DATABASE_URL_PREFIX}{module.upper()}", url)

        chunk_size = _parse_int(env, f"{PREFIX}RAG_CHUNK_SIZE", 800, minimum=100)
        return cls(
            data_dir=data_dir,
            modules=_parse_modules(env.get(f"{PREFIX}MODULES")),
            database_urls=urls,
            jwt_secret=_parse_jwt_secret(env.get(f"{PREFIX}JWT_SECRET")),
            token_max_ttl_s=_parse_duration(env, f"{PREFIX}TOKEN_MAX_TTL", 30 * 86_400),
            redis_url=_parse_redis_url(env.get(f"{PREFIX}REDIS_URL")),
            db_pool_size=_parse_int(env, f"{PREFIX}DB_POOL_SIZE", 5, minimum=1),
            log_level=_parse_log_level(env.get(f"{PREFIX}LOG_LEVEL", "INFO")),
            default_max_active_sessions=_parse_int(
                env, f"{PREFIX}DEFAULT_MAX_ACTIVE_SESSIONS", 20, minimum=0
            ),
            default_max_sessions_per_day=_parse_int(
                env, f"{PREFIX}DEFAULT_MAX_SESSIONS_PER_DAY", 200, minimum=0
            ),
            embedding_model=_parse_embedding_model(
                env.get(f"{PREFIX}EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL)
            ),
            embeddings_url=_parse_http_url(env.get(f"{PREFIX}EMBEDDINGS_URL")),
            embeddings_api_key=env.get(f"{PREFIX}EMBEDDINGS_API_KEY") or None,
            rag_chunk_size=chunk_size,
            rag_chunk_overlap=_parse_chunk_overlap(env, chunk_size),
            tools_allowlist=_parse_allowlist(env.get(f"{PREFIX}TOOLS_ALLOWLIST")),
            tools_rate_limit=_parse_rate_limit(env.get(f"{PREFIX}TOOLS_RATE_LIMIT")),
            tools_max_concurrent=_parse_int(env, f"{PREFIX}TOOLS_MAX_CONCURRENT", 8, minimum=1),
            tools_max_concurrent_per_user=_parse_int(
                env, f"{PREFIX}TOOLS_MAX_CONCURRENT_PER_USER", 2, minimum=1
            ),
            tools_max_params_bytes=_parse_int(
                env, f"{PREFIX}TOOLS_MAX_PARAMS_BYTES", 262_144, minimum=1024
            ),
            tools_max_output_bytes=_parse_int(
                env, f"{PREFIX}TOOLS_MAX_OUTPUT_BYTES", 1_048_576, minimum=1024
            ),
            sandbox_bwrap=env.get(f"{PREFIX}SANDBOX_BWRAP") or "bwrap",
            sandbox_python=env.get(f"{PREFIX}SANDBOX_PYTHON") or "/usr/bin/python3",
            sandbox_uid=_parse_int(env, f"{PREFIX}SANDBOX_UID", 64_999, minimum=1),
            sandbox_cgroup=_parse_cgroup(env.get(f"{PREFIX}SANDBOX_CGROUP") or "auto"),
            redis_key_prefix=_parse_key_prefix(env.get(f"{PREFIX}REDIS_KEY_PREFIX")),
            memory_working_ttl_s=_parse_duration(env, f"{PREFIX}MEMORY_WORKING_TTL", 3_600),
            memory_working_max_items=_parse_int(
                env, f"{PREFIX}MEMORY_WORKING_MAX_ITEMS", 50, minimum=1
            ),
            memory_seed_count=_parse_int(env, f"{PREFIX}MEMORY_SEED_COUNT", 5, minimum=0),
            memory_half_life_s=_parse_duration(env, f"{PREFIX}MEMORY_HALF_LIFE", 30 * 86_400),
            saga_max_attempts=_parse_int(env, f"{PREFIX}SAGA_MAX_ATTEMPTS", 5, minimum=1),
            saga_backoff_s=_parse_int(env, f"{PREFIX}SAGA_BACKOFF_MS", 200, minimum=1) / 1000,
            saga_step_timeout_s=_parse_duration(env, f"{PREFIX}SAGA_STEP_TIMEOUT", 10),
            saga_request_deadline_s=_parse_duration(env, f"{PREFIX}SAGA_REQUEST_DEADLINE", 5),
            saga_lease_s=_parse_duration(env, f"{PREFIX}SAGA_LEASE", 15),
            saga_crash_at=env.get(f"{PREFIX}SAGA_CRASH_AT") or None,
            composition_timeout_s=_parse_int(
                env, f"{PREFIX}COMPOSITION_TIMEOUT_MS", 2000, minimum=1
            )
            / 1000,
            bus_url=_parse_redis_url(env.get(f"{PREFIX}BUS_URL"), f"{PREFIX}BUS_URL"),
            events_batch_size=_parse_int(env, f"{PREFIX}EVENTS_BATCH_SIZE", 100, minimum=1),
            events_lease_s=_parse_duration(env, f"{PREFIX}EVENTS_LEASE", 30),
            events_poll_s=_parse_int(env, f"{PREFIX}EVENTS_POLL_MS", 500, minimum=10) / 1000,
            events_retention_s=_parse_duration(env, f"{PREFIX}EVENTS_RETENTION", 7 * 86_400),
            events_dead_letter_retention_s=_parse_duration(
                env, f"{PREFIX}EVENTS_DEAD_LETTER_RETENTION", 30 * 86_400
            ),
            events_max_attempts=_parse_int(env, f"{PREFIX}EVENTS_MAX_ATTEMPTS", 5, minimum=1),
            events_backoff_s=_parse_int(env, f"{PREFIX}EVENTS_BACKOFF_MS", 100, minimum=1) / 1000,
            bus_claim_idle_s=_parse_duration(env, f"{PREFIX}BUS_CLAIM_IDLE", 30),
        )

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


def _parse_data_dir(raw: str | None) -> Path:
    if raw is None:
        return Path("var")
    if not raw.strip():
        raise SettingsError(
            f"{PREFIX}DATA_DIR",
            "is empty, which would mean the current directory; unset it for ./var or name a directory",
        )
    return Path(raw)


def _parse_modules(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or raw.strip() in ("", "all"):
        return None
    names = tuple(n.strip().lower() for n in raw.split(",") if n.strip())
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise SettingsError(f"{PREFIX}MODULES", f"{name!r} is not a module name")
    return names


def _parse_jwt_secret(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) < 32:
        raise SettingsError(f"{PREFIX}JWT_SECRET", "must be at least 32 characters long")
    return raw


def _parse_redis_url(raw: str | None, variable: str = f"{PREFIX}REDIS_URL") -> str | None:
    if not raw:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(variable, f"{raw!r} is not a redis://, rediss:// URL")
    return raw


def _parse_embedding_model(raw: str) -> str:
    if not re.fullmatch(r"all-minilm-l6-v2-int8|hashing-\d{1,5}|openai:[\w./:-]{1,200}", raw):
        raise SettingsError(
            f"{PREFIX}EMBEDDING_MODEL",
            f"{raw!r}; use all-minilm-l6-v2-int8, openai:<model> or hashing-<dims>",
        )
    return raw


def _parse_http_url(raw: str | None) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("http://", "https://")):
        raise SettingsError(f"{PREFIX}EMBEDDINGS_URL", f"{raw!r} is not an http(s):// URL")
    return raw


def _parse_chunk_overlap(env: Mapping[str, str], size: int) -> int:
    overlap = _parse_int(env, f"{PREFIX}RAG_CHUNK_OVERLAP", 120, minimum=0)
    if overlap >= size // 2:
        raise SettingsError(
            f"{PREFIX}RAG_CHUNK_OVERLAP", f"must be below half the chunk size ({size})"
        )
    return overlap


_TOOL_PATTERN = re.compile(r"\*|[a-z0-9_.]+\*?")
_CLIENT_PATTERN = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def _parse_allowlist(raw: str | None) -> dict[str, tuple[str, ...]]:
    """`{"agent-a": ["math.*", "text.stats"], "*": []}`: unset lets every client run all."""
    variable = f"{PREFIX}TOOLS_ALLOWLIST"
    if not raw:
        return {"*": ("*",)}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(variable, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(variable, "must be a JSON object of client id -> list of tools")
    allowlist: dict[str, tuple[str, ...]] = {"*": ()}  # listed: unlisted clients get nothing
    for client, tools in data.items():
        if not _CLIENT_PATTERN.fullmatch(client):
            raise SettingsError(variable, f"{client!r} is not a client id")
        if not isinstance(tools, list) or not all(
            isinstance(t, str) and _TOOL_PATTERN.fullmatch(t) for t in tools
        ):
            raise SettingsError(
                variable, f"{client}: expected a list of tool names, 'prefix.*' or '*'"
            )
        allowlist[client] = tuple(tools)
    return allowlist


def _parse_rate_limit(raw: str | None) -> tuple[int, int]:
    """`60/1m`: calls per window; units s, m, h."""
    if not raw:
        return (60, 60)
    match = re.fullmatch(r"(\d{1,7})/(\d{0,5})([smh])", raw.strip())
    if not match or int(match.group(1)) < 1 or match.group(2) == "0":
        raise SettingsError(f"{PREFIX}TOOLS_RATE_LIMIT", f"{raw!r}; use calls/window like 60/1m")
    window = int(match.group(2) or 1) * {"s": 1, "m": 60, "h": 3600}[match.group(3)]
    return (int(match.group(1)), window)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def _parse_duration(env: Mapping[str, str], variable: str, default: int) -> int:
    """`90s`, `30m`, `1h`, `30d`, `2w` -> seconds."""
    raw = env.get(variable)
    if not raw:
        return default
    match = re.fullmatch(r"(\d{1,7})([smhdw])", raw.strip())
    if not match or int(match.group(1)) == 0:
        raise SettingsError(variable, f"{raw!r}; use a positive duration like 90s, 1h, 30d")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _parse_key_prefix(raw: str | None) -> str:
    if not raw:
        return "bulkhead"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw):
        raise SettingsError(f"{PREFIX}REDIS_KEY_PREFIX", f"{raw!r}; use letters, digits, _.:-")
    return raw


def _parse_log_level(raw: str) -> str:
    level = raw.upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"{PREFIX}LOG_LEVEL", f"{raw!r}; use one of {', '.join(_LOG_LEVELS)}")
    return level


def _parse_int(env: Mapping[str, str], variable: str, default: int, *, minimum: int) -> int:
    raw = env.get(variable)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(variable, f"{raw!r} is not an integer") from exc
    if value < minimum:
        raise SettingsError(variable, f"must be at least {minimum}, got {value}")
    return value


def _parse_cgroup(value: str) -> str:
    if value in ("auto", "off"):
        return value
    if not (Path(value) / "cgroup.procs").is_file():
        raise SettingsError(
            f"{PREFIX}SANDBOX_CGROUP",
            f"{value!r} is not a cgroup; use auto, off or a delegated cgroup v2 directory",
        )
    return value
