"""Manifests on disk: one YAML file per object, named so that a directory applies in order."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def write_manifests(manifests: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """Replace the `*.yaml` files of `out` with one per manifest (`NNN-kind-name.yaml`)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.yaml"):
        stale.unlink()
    written = []
    for index, manifest in enumerate(manifests):
        name = re.sub(r"[^a-z0-9-]", "-", manifest["metadata"]["name"].lower())
        path = out / f"{index:03d}-{manifest['kind'].lower()}-{name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        written.append(path)
    return written


def read_manifests(out: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
