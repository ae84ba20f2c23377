"""The `.env` that `compose.yaml`'s `${VARIABLES}` come from: the credentials of a
single-host deployment, generated once, kept on a rerun, readable by its owner only.

Multi-line values (the PEM keys) are double-quoted with `\\n` escapes, which both Compose's
dotenv reader and python-dotenv turn back into line breaks.
"""

from __future__ import annotations

import os
import secrets as random
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from .compose import JWT_VARIABLE, variable
from .layout import Layout
from .secrets import key_pair


def generate(layout: Layout, existing: Mapping[str, str] = {}) -> dict[str, str]:
    """Every variable compose.yaml needs for `layout`; values in `existing` win, and a
    service's key pair is made again only when either half is missing."""
    values = {JWT_VARIABLE: random.token_urlsafe(48)}
    for module in layout.databases:
        values[variable("DB_PASSWORD", module.name)] = random.token_urlsafe(24)
    for service in layout.services:
        private, public = variable("KEY", service.name), variable("PUB", service.name)
        if not (existing.get(private) and existing.get(public)):
            values[private], values[public] = key_pair(service.name, service.key_modules)
        else:
            values[private], values[public] = existing[private], existing[public]
    return {name: existing.get(name) or value for name, value in values.items()}


def read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def write(path: Path, values: Mapping[str, str]) -> None:
    """Mode 0600 from the start: the values never sit in a file others may read."""
    escaped = {
        k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        for k, v in values.items()
    }
    text = "# Bulkhead's credentials for compose.yaml: never commit this file.\n"
    text += "".join(f'{k}="{v}"\n' for k, v in sorted(escaped.items()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        out.write(text)
