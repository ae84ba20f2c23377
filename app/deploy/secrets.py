"""The Secrets the manifests reference, generated once and kept apart from them.

`bulkhead deploy secrets --out DIR` writes them (mode 0600, in a 0700 directory) for
`kubectl apply -f DIR`; they never belong in a repository. Running it again keeps every
value already in DIR, so passwords and keys survive a regeneration of the manifests.
"""

from __future__ import annotations

import secrets as random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from app.kernel.rpc.service_tokens import create_key_pair

from .k8s_common import (
    JWT_SECRET,
    POSTGRES_PORT,
    PUBLIC_KEYS,
    Options,
    database_host,
    database_secret,
    key_secret,
)
from .layout import Layout

Manifest = dict[str, Any]


def generate(
    layout: Layout, options: Options, existing: Mapping[str, Mapping[str, str]] = {},
    external_urls: Mapping[str, str] = {},
) -> list[Manifest]:  # fmt: skip
    """Every Secret for `layout`: the JWT secret, a database's credentials per module (or
    the managed database's URL from `external_urls`), each service's signing key, and the
    public keys every service verifies with. Values in `existing` (by Secret name) win."""
    out = [_secret(JWT_SECRET, {"secret": random.token_urlsafe(48)}, existing, options)]
    for module in (d.name for d in layout.databases):
        user = f"bulkhead_{module}"
        password = random.token_urlsafe(24)
        host = f"{database_host(module)}.{options.namespace}.svc"
        data = {
            "user": user,
            "password": password,
            "database": user,
            "url": f"postgresql://{user}:{password}@{host}:{POSTGRES_PORT}/{user}",
        }
        kept = dict(existing.get(database_secret(module), {}))
        if kept.get("password"):  # one password: the URL is rebuilt around the kept one
            data = {**data, **kept}
        if module in external_urls:
            data = {"url": external_urls[module]}
        out.append(_secret(database_secret(module), data, {}, options))
    public: dict[str, str] = dict(existing.get(PUBLIC_KEYS, {}))
    for service in layout.services:
        kept_key = existing.get(key_secret(service.name), {}).get(f"{service.name}.key")
        if kept_key is None or f"{service.name}.pub" not in public:
            private_pem, public_pem = key_pair(service.name, service.key_modules)
            kept_key = private_pem
            public[f"{service.name}.pub"] = public_pem
        public[f"{service.name}.modules"] = ",".join(sorted(service.key_modules)) + "\n"
        out.append(
            _secret(key_secret(service.name), {f"{service.name}.key": kept_key}, {}, options)
        )
    out.append(_secret(PUBLIC_KEYS, public, {}, options))
    return out


def read_existing(directory: Path) -> dict[str, dict[str, str]]:
    """The values of the Secrets already written to `directory`, by name."""
    found = {}
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        manifest = yaml.safe_load(path.read_text())
        if manifest.get("kind") == "Secret":
            found[manifest["metadata"]["name"]] = dict(manifest.get("stringData", {}))
    return found


def _secret(
    name: str, data: Mapping[str, str], existing: Mapping[str, Mapping[str, str]], options: Options
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": options.namespace,
            "labels": {"app.kubernetes.io/part-of": "bulkhead"},
        },
        "type": "Opaque",
        "stringData": dict(existing.get(name, data)),
    }


def key_pair(service: str, modules: tuple[str, ...]) -> tuple[str, str]:
    """A service key made the way `bulkhead keys create` makes it, read back as text."""
    with tempfile.TemporaryDirectory() as scratch:
        private, public = create_key_pair(Path(scratch), service, modules)
        return private.read_text(), public.read_text()
