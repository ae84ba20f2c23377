"""compose.yaml: the layout on one Docker host, valid against the Compose specification,
current with the registry, its networks the registry's boundaries, its credentials only
`${VARIABLES}` from a private `.env` that `bulkhead deploy secrets --compose` writes."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.deploy.compose import JWT_VARIABLE
from app.deploy.compose_secrets import read
from app.deploy.k8s_common import PORT, UID
from app.deploy.layout import DEFAULT_LAYOUT, Layout
from app.kernel.rpc.service_tokens import ServiceSigner, ServiceVerifier
from app.kernel.rpc.wiring import allowed_callers
from app.main import REGISTRY
from tests.e2e.test_server import BULKHEAD, bulkhead

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "compose.yaml"
LAYOUT = Layout.parse(DEFAULT_LAYOUT)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMMITTED.read_text())
    return dict(document["services"])


def test_the_committed_compose_file_is_what_the_registry_generates(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "data")}
    bulkhead(env, "deploy", "compose", "--out", str(tmp_path / "compose.yaml"))
    assert (tmp_path / "compose.yaml").read_text() == COMMITTED.read_text(), (
        "compose.yaml is stale: run `bulkhead deploy compose`"
    )


def test_it_is_valid_against_the_compose_specification() -> None:
    validator = Path(BULKHEAD).parent / "check-jsonschema"
    result = subprocess.run(
        [str(validator), "--builtin-schema", "vendor.compose-spec", str(COMMITTED)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _shares_a_network(services: dict[str, Any], a: str, b: str) -> bool:
    return bool(set(services[a]["networks"]) & set(services[b]["networks"]))


def test_networks_mirror_the_registry(services: dict[str, Any]) -> None:
    document = yaml.safe_load(COMMITTED.read_text())
    assert {n for n, spec in document["networks"].items() if not spec.get("internal")} == {"public"}
    names = {s.name for s in LAYOUT.services}
    for database in LAYOUT.databases:
        host = f"db-{database.name}"
        owner = LAYOUT.owner(database.name).name
        reaching = {n for n in services if n != host and _shares_a_network(services, n, host)}
        assert reaching == {owner, f"migrate-{database.name}"}, database.name
    for a, b in combinations(LAYOUT.services, 2):
        either_calls = a in LAYOUT.callers(b) or b in LAYOUT.callers(a)
        assert _shares_a_network(services, a.name, b.name) == either_calls, (a.name, b.name)
    for service in LAYOUT.services:
        assert _shares_a_network(services, service.name, "redis")
        own = {"redis", *(f"{kind}-{m}" for m in service.modules for kind in ("db", "migrate"))}
        for other in set(services) - names - own:  # others' databases and migrations
            assert not _shares_a_network(services, service.name, other), (service, other)
    published = {n for n, spec in services.items() if "ports" in spec}
    assert published == {LAYOUT.edge.name}
    assert services[LAYOUT.edge.name]["ports"] == [f"{PORT}:{PORT}"]


def test_every_container_is_unprivileged_and_every_server_is_probed(
    services: dict[str, Any],
) -> None:
    for name, spec in services.items():
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert not spec["user"].startswith("0"), name
        if name in {s.name for s in LAYOUT.services} or name.startswith("migrate-"):
            assert spec["user"] == f"{UID}:{UID}" and spec["read_only"] is True, name
        if "healthcheck" not in spec:
            assert name.startswith("migrate-"), name  # one-shot: its exit code is its health
    for service in LAYOUT.services:
        probe = services[service.name]["healthcheck"]["test"]
        assert "/health/ready" in probe[-1]
        extra = set(services[service.name]["security_opt"]) - {"no-new-privileges:true"}
        expected = (
            {"seccomp=unconfined", "apparmor=unconfined"} if "tools" in service.modules else set()
        )
        assert extra == expected, service.name  # only bubblewrap's user namespaces


def test_each_service_runs_with_the_environment_its_layout_gives_it(
    services: dict[str, Any],
) -> None:
    """The same commands and environment as the split end-to-end test and the cluster."""
    for service in LAYOUT.services:
        spec = services[service.name]
        assert spec["command"][:2] == ["bulkhead", "serve"]
        expected = LAYOUT.environment(service, lambda s: f"http://{s.name}:{PORT}")
        assert {k: spec["environment"][k] for k in expected} == expected
        urls = {k for k in spec["environment"] if k.startswith("BULKHEAD_DATABASE_URL_")}
        assert urls == {f"BULKHEAD_DATABASE_URL_{m.upper()}" for m in service.modules}
        waits = {k for k, v in spec["depends_on"].items() if k.startswith("migrate-")}
        assert waits == {f"migrate-{m}" for m in service.modules}
    for database in LAYOUT.databases:
        migrate = services[f"migrate-{database.name}"]
        assert migrate["command"] == ["bulkhead", "db", "upgrade", "--module", database.name]


def test_credentials_are_only_variables_the_private_env_file_supplies(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "data")}
    dotenv = tmp_path / ".env"
    bulkhead(env, "deploy", "secrets", "--compose", "--out", str(dotenv))
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    values = read(dotenv)
    text = COMMITTED.read_text()
    referenced = set(re.findall(r"\$\{(\w+):\?", text))
    document = yaml.safe_load(text)
    for kind in ("secrets", "configs"):
        referenced |= {s["environment"] for s in document[kind].values() if "environment" in s}
    assert referenced == set(values), "every variable compose.yaml needs, and no other"
    for value in values.values():
        assert value not in text
    urls = re.findall(r"postgresql://[^\s]+", text)
    assert urls and all(
        re.match(r"postgresql://\w+:\$\{BULKHEAD_DB_PASSWORD_\w+:\?", u) for u in urls
    )
    bulkhead(env, "deploy", "secrets", "--compose", "--out", str(dotenv))
    assert read(dotenv) == values  # a rerun keeps every credential


def test_a_key_from_the_env_file_signs_calls_its_peers_accept(tmp_path: Path) -> None:
    """The PEM keys survive the .env's escaping: what Compose mounts is a key that loads."""
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "data")}
    dotenv = tmp_path / ".env"
    bulkhead(env, "deploy", "secrets", "--compose", "--out", str(dotenv))
    values, keys = read(dotenv), tmp_path / "keys"
    keys.mkdir()
    for service in LAYOUT.services:  # as compose.yaml mounts them
        variable = service.name.upper()
        (keys / f"{service.name}.key").write_text(values[f"BULKHEAD_KEY_{variable}"])
        (keys / f"{service.name}.pub").write_text(values[f"BULKHEAD_PUB_{variable}"])
        (keys / f"{service.name}.modules").write_text(",".join(sorted(service.key_modules)))
    edge = ServiceSigner(keys, "edge", LAYOUT.edge.key_modules)
    verifier = ServiceVerifier(keys, allowed_callers(REGISTRY))
    assert verifier.caller(f"Bearer {edge.token('memory')}", "memory") == "edge"
    assert values[JWT_VARIABLE]
