"""What `bulkhead settings` prints, and the README's table of settings, from the declarations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .setting import declared_fields, default_of, mask_credentials
from .settings import DATABASE_URL_PREFIX, REMOTE_PREFIX, URLS_FILE_VARIABLE, Settings

# Variables read outside any group's fields: one per module, and the file of them all.
DATABASE_ROWS = [
    (
        f"{DATABASE_URL_PREFIX}<MODULE>",
        "`sqlite+aiosqlite:///DATA_DIR/<module>.sqlite3`",
        "kernel",
        "one module's database (the saga store's too: `SAGAS`), e.g. "
        "`BULKHEAD_DATABASE_URL_BILLING=postgresql://billing:pw@db/billing`",
    ),
    (
        f"{REMOTE_PREFIX}<MODULE>",
        "unset: the module runs here",
        "kernel",
        "`http://host:port` of a process serving that module (`bulkhead serve --modules X`): "
        "this process calls its contract over HTTP instead (also a key of the URLs file)",
    ),
    (
        URLS_FILE_VARIABLE,
        "`DATA_DIR/database-urls.json` if present",
        "kernel",
        "JSON `{module: url}` written by `bulkhead db provision`; per-module variables win over it",
    ),
]


@dataclass(frozen=True)
class Effective:
    variable: str
    value: str  # as a user would write it; secrets masked
    source: str  # default, environment or file


def effective_settings(
    settings: Settings, groups: Mapping[str, type], databases: list[str]
) -> list[Effective]:
    """Every setting of this process with its value and where the value came from."""
    rows: list[Effective] = []
    for group in groups.values():
        values = settings if group is Settings else settings.of(group)
        for f, declared in declared_fields(group):
            value = getattr(values, f.name)
            shown = "unset" if value is None else declared.kind.show(value)
            if declared.secret and value is not None:
                shown = "***"
            rows.append(
                Effective(declared.variable, shown, settings.source(group, declared.variable))
            )
    for module, url in sorted(settings.remotes.items()):
        rows.append(Effective(f"{REMOTE_PREFIX}{module.upper()}", url, "configured"))
    for module in databases:
        rows.append(
            Effective(
                f"{DATABASE_URL_PREFIX}{module.upper()}",
                mask_credentials(settings.database_url(module)),
                settings.database_url_sources.get(module, "default"),
            )
        )
    return rows


def render_effective(rows: list[Effective]) -> str:
    width = max(len(r.variable) for r in rows)
    return "\n".join(f"{r.variable:<{width}}  {r.source:<11}  {r.value}" for r in rows)


def markdown_table(groups: Mapping[str, type]) -> str:
    """The README's table: every variable, its default, who owns it, what it does."""
    lines = ["| Variable | Default | Owner | What it sets |", "| --- | --- | --- | --- |"]
    for owner, group in groups.items():
        for f, declared in declared_fields(group):
            default = declared.shown_default(default_of(f))
            shown = (
                default
                if default.startswith(("`", "unset", "all", "generated"))
                else f"`{default}`"
            )
            lines.append(f"| `{declared.variable}` | {shown} | {owner} | {declared.doc} |")
        if group is Settings:
            lines += [f"| `{v}` | {d} | {o} | {w} |" for v, d, o, w in DATABASE_ROWS]
    return "\n".join(lines)
