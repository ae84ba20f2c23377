"""The tools module's settings: who may run what, how often, and the sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.kernel.setting import Integer, Parsed, SettingsError, Text, setting

_TOOL_PATTERN = re.compile(r"\*|[a-z0-9_.]+\*?")
_CLIENT_PATTERN = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_WINDOW_UNITS = {"h": 3600, "m": 60, "s": 1}
EVERY_CLIENT_EVERY_TOOL: Mapping[str, tuple[str, ...]] = {"*": ("*",)}


def _allowlist(raw: str, variable: str) -> dict[str, tuple[str, ...]]:
    """`{"agent-a": ["math.*", "text.stats"], "*": []}`: unset lets every client run all."""
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


def _rate_limit(raw: str, variable: str) -> tuple[int, int]:
    """`60/1m`: calls per window; units s, m, h."""
    match = re.fullmatch(r"(\d{1,7})/(\d{0,5})([smh])", raw.strip())
    if not match or int(match.group(1)) < 1 or match.group(2) == "0":
        raise SettingsError(variable, f"{raw!r}; use calls/window like 60/1m")
    return (int(match.group(1)), int(match.group(2) or 1) * _WINDOW_UNITS[match.group(3)])


def _show_rate_limit(limit: tuple[int, int]) -> str:
    calls, window = limit
    unit = next(u for u, s in _WINDOW_UNITS.items() if window % s == 0)
    return f"{calls}/{window // _WINDOW_UNITS[unit]}{unit}"


def _cgroup(raw: str, variable: str) -> str:
    if raw in ("auto", "off") or (Path(raw) / "cgroup.procs").is_file():
        return raw
    raise SettingsError(
        variable, f"{raw!r} is not a cgroup; use auto, off or a delegated cgroup v2 directory"
    )


@dataclass(frozen=True)
class ToolsSettings:
    # Client id -> tool names or patterns it may run; "*" is every client without its own.
    allowlist: Mapping[str, tuple[str, ...]] = setting(
        "TOOLS_ALLOWLIST",
        EVERY_CLIENT_EVERY_TOOL,
        Parsed(_allowlist, json.dumps),
        'JSON `{client: [tool, "prefix.*", "*"]}`; once set, clients not listed get the `"*"` '
        "entry's list, or nothing. Admins override per client with "
        "`PUT /v1/tools/policies/{client}`",
        default_text="unset: every client may run every tool",
    )
    rate_limit: tuple[int, int] = setting(
        "TOOLS_RATE_LIMIT",
        (60, 60),
        Parsed(_rate_limit, _show_rate_limit),
        "calls per sliding window per tool, client and user (`s`, `m`, `h`); a tool's own "
        "`rate_limit` wins. Also each user's budget of refused calls (unknown tool, not "
        "allowed, invalid params)",
    )
    max_concurrent: int = setting(
        "TOOLS_MAX_CONCURRENT",
        8,
        Integer(1),
        "sandboxes one process runs at once; more calls wait their turn",
    )
    max_concurrent_per_user: int = setting(
        "TOOLS_MAX_CONCURRENT_PER_USER",
        2,
        Integer(1),
        "of those, how many one user's calls may hold; the rest stay free for others",
    )
    max_params_bytes: int = setting(
        "TOOLS_MAX_PARAMS_BYTES",
        262_144,
        Integer(1024),
        "a call's params as JSON; larger is refused (422)",
    )
    max_output_bytes: int = setting(
        "TOOLS_MAX_OUTPUT_BYTES",
        1_048_576,
        Integer(1024),
        "per stream (stdout, stderr); past it the tool is stopped (`output_limit`)",
    )
    sandbox_bwrap: str = setting("SANDBOX_BWRAP", "bwrap", Text(), "the bubblewrap binary")
    sandbox_python: str = setting(
        "SANDBOX_PYTHON",
        "/usr/bin/python3",
        Text(),
        "the Python that runs tools inside the sandbox (standard library only); it must live "
        "under `/usr`",
    )
    sandbox_uid: int = setting(
        "SANDBOX_UID",
        64_999,
        Integer(1),
        "when the server runs as root, sandboxes run as this uid (via `setpriv`), because root "
        "ignores the process limit",
    )
    sandbox_cgroup: str = setting(
        "SANDBOX_CGROUP",
        "auto",
        Parsed(_cgroup),
        "a cgroup per run caps a sandbox's memory (tmpfs included) and processes as a whole "
        "and measures its CPU and peak memory: `auto` (a writable cgroup v1 hierarchy, or a v2 "
        "cgroup with memory and pids delegated), `off` (per-process rlimits only), or the path "
        "of a delegated v2 cgroup",
    )
