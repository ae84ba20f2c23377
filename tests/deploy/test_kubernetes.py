"""`bulkhead deploy k8s`: valid manifests whose network policies are the registry's
boundaries, checked by evaluating the policies the way a cluster's network plugin would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import MetaData

from app.deploy.files import read_manifests
from app.deploy.k8s_common import PORT, POSTGRES_PORT, REDIS_PORT, Options
from app.deploy.kubernetes import manifests
from app.deploy.layout import DEFAULT_LAYOUT, Layout
from app.deploy.secrets import generate
from app.kernel.module import Module
from app.kernel.registry import ModuleRegistry
from app.main import DATABASES, REGISTRY
from tests.e2e.test_server import BULKHEAD, bulkhead

Labels = dict[str, str]
LAYOUTS = {
    "default": DEFAULT_LAYOUT,
    "conversation-alone": (
        "edge=billing,sagas,analytics",
        "conversation",
        "tools",
        "memory",
        "rag",
    ),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("k8s")
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(out.parent / "data")}
    bulkhead(env, "deploy", "k8s", "--image", "registry.example/bulkhead:1", "--out", str(out))
    return out


def test_every_manifest_is_valid_for_kubernetes_strictly(written: Path) -> None:
    validator = Path(BULKHEAD).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validator), "--strict", "--quiet", *sorted(map(str, written.glob("*.yaml")))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(written.glob("*.yaml"))) > 40


def test_a_bad_layout_is_refused_saying_why(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [BULKHEAD, "deploy", "k8s", "--image", "x", "--out", str(tmp_path / "k8s"),
         "--layout", "edge=conversation,billing,sagas rag tools memory"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--layout: analytics placed in no service" in result.stderr
    assert "Traceback" not in result.stderr


# -- the policies, evaluated ------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: Labels) -> bool:
    wanted = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def _peer_matches(peer: dict[str, Any], labels: Labels, same_namespace: bool) -> bool:
    if "namespaceSelector" in peer and "podSelector" not in peer:
        return True  # any pod of any namespace (selector {})
    return same_namespace and _selects(peer["podSelector"], labels)


def _allowed(policies: list[dict[str, Any]], direction: str, pod: Labels, peer: Labels,
             port: int, *, same_namespace: bool = True) -> bool:  # fmt: skip
    """NetworkPolicy semantics: traffic is allowed in `direction` for `pod` when no policy
    of that type selects it, or some selecting policy has a rule matching peer and port."""
    kind = "Ingress" if direction == "ingress" else "Egress"
    selecting = [
        p["spec"]
        for p in policies
        if kind in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod)
    ]
    if not selecting:
        return True
    field = "from" if direction == "ingress" else "to"
    for spec in selecting:
        for rule in spec.get(direction, []):
            ports = {p["port"] for p in rule.get("ports", [])} or {port}
            peers = rule.get(field)
            if port in ports and (
                peers is None or any(_peer_matches(x, peer, same_namespace) for x in peers)
            ):
                return True
    return False


def connects(
    policies: list[dict[str, Any]],
    source: Labels,
    target: Labels,
    port: int,
    *,
    outside: bool = False,
) -> bool:
    """From a pod of the namespace, or of another one (`outside`: no policy of ours
    governs its egress; only a namespace-wide peer admits it)."""
    leaves = outside or _allowed(policies, "egress", source, target, port)
    return leaves and _allowed(
        policies, "ingress", target, source, port, same_namespace=not outside
    )


def _pods(objects: list[dict[str, Any]], kind: str) -> dict[str, Labels]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] == kind
    }


@pytest.mark.parametrize("name", LAYOUTS)
def test_databases_and_internal_ports_are_reachable_exactly_as_the_registry_says(
    name: str,
) -> None:
    assert_policies_mirror(Layout.parse(LAYOUTS[name]))


def assert_policies_mirror(layout: Layout) -> None:
    """For every pair: a database reachable only from its owner's pods (servers and
    migration Job), an internal port only from the services the registry lets call it."""
    objects = manifests(layout, Options(image="x"))
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    servers = _pods(objects, "Deployment")
    databases = {n.removeprefix("db-"): pod for n, pod in _pods(objects, "StatefulSet").items()}
    migrations = {
        o["metadata"]["labels"]["bulkhead.dev/migrates"]: o["spec"]["template"]["metadata"][
            "labels"
        ]
        for o in objects
        if o["kind"] == "Job"
    }
    intruder = {"app": "something-else"}  # a pod of the namespace, or of another one
    assert set(databases) - {"redis"} == {d.name for d in layout.databases}
    for module in (d.name for d in layout.databases):
        owner = layout.owner(module).name
        for service, pod in servers.items():
            reach = connects(policies, pod, databases[module], POSTGRES_PORT)
            assert reach == (service == owner), (module, service)
        assert connects(policies, migrations[module], databases[module], POSTGRES_PORT)
        for outside in (False, True):
            assert not connects(
                policies, intruder, databases[module], POSTGRES_PORT, outside=outside
            )
    for target in layout.services:
        callers = {c.name for c in layout.callers(target)}
        for source in layout.services:
            if source is target:
                continue
            reach = connects(policies, servers[source.name], servers[target.name], PORT)
            assert reach == (source.name in callers), (source.name, target.name)
        public = connects(policies, intruder, servers[target.name], PORT, outside=True)
        assert public == target.edge, target.name  # only the edge takes outside traffic
        assert not connects(policies, intruder, servers[target.name], PORT)
        assert connects(policies, servers[target.name], databases["redis"], REDIS_PORT)
    for outside in (False, True):
        assert not connects(policies, intruder, databases["redis"], REDIS_PORT, outside=outside)


def test_every_container_runs_unprivileged_with_limits_and_both_probes(written: Path) -> None:
    objects = read_manifests(written)
    for o in objects:
        if o["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = o["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, o["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        for container in pod.get("initContainers", []) + pod["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] and not security["allowPrivilegeEscalation"]
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            if o["kind"] != "Job" and container in pod["containers"]:
                assert {"readinessProbe", "livenessProbe"} <= set(container), container["name"]
        if o["kind"] == "Deployment":
            (server,) = pod["containers"]
            assert server["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert server["livenessProbe"]["httpGet"]["path"] == "/health/live"
            assert server["securityContext"]["readOnlyRootFilesystem"] is True


def test_no_credential_is_written_only_secrets_are_referenced(written: Path) -> None:
    objects = read_manifests(written)
    assert not [o for o in objects if o["kind"] == "Secret"]
    text = "".join(p.read_text() for p in written.glob("*.yaml"))
    assert "password:" not in text.lower().replace("postgres_password", "")
    for o in objects:
        if o["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = o["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            for variable in container.get("env", []):
                secretish = any(w in variable["name"] for w in ("SECRET", "PASSWORD", "URL_"))
                if secretish and variable["name"] != "BULKHEAD_REDIS_URL":
                    assert "valueFrom" in variable, (o["metadata"]["name"], variable)


def test_each_service_runs_with_the_environment_its_layout_gives_it(written: Path) -> None:
    """What the cluster runs is what the split test runs: the same layout's environment."""
    layout = Layout.parse(DEFAULT_LAYOUT)
    deployments = {
        o["metadata"]["name"]: o for o in read_manifests(written) if o["kind"] == "Deployment"
    }
    for service in layout.services:
        (server,) = deployments[service.name]["spec"]["template"]["spec"]["containers"]
        env = {v["name"]: v.get("value") for v in server["env"]}
        expected = layout.environment(service, lambda s: f"http://{s.name}.bulkhead.svc:{PORT}")
        assert {k: env[k] for k in expected} == expected
        urls = {k for k in env if k.startswith("BULKHEAD_DATABASE_URL_")}
        assert urls == {f"BULKHEAD_DATABASE_URL_{m.upper()}" for m in service.modules}


class NotesAPI(Protocol):
    async def count(self, user_id: str) -> int: ...


def _notes_service(database: object, settings: object, contracts: object) -> object:
    raise NotImplementedError  # never built: only laid out


NOTES = Module(
    name="notes",
    metadata=MetaData(),
    contract=NotesAPI,
    service=_notes_service,
    routes=(),
    migrations=Path("notes-migrations"),
    depends_on=("memory",),
)


def test_a_module_added_to_the_registry_gets_its_deployment_database_job_and_policies() -> None:
    base = Layout.parse(DEFAULT_LAYOUT)
    grown = Layout.parse([*DEFAULT_LAYOUT, "notes"], ModuleRegistry([*REGISTRY, NOTES]))

    def named(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in objects}

    added = named(manifests(grown, Options(image="x"))) - named(manifests(base, Options("x")))
    assert added == {
        ("Deployment", "notes"),
        ("Service", "notes"),
        ("PodDisruptionBudget", "notes"),
        ("HorizontalPodAutoscaler", "notes"),
        ("StatefulSet", "db-notes"),  # its volume: the StatefulSet's claim template
        ("Service", "db-notes"),
        ("Job", "migrate-notes"),
        ("NetworkPolicy", "db-notes-from-notes"),
        ("NetworkPolicy", "notes-ingress"),
    }
    assert [s.name for s in grown.callers(grown.owner("memory"))] == ["edge", "notes"]
    assert_policies_mirror(grown)  # notes reaches its database and memory, nothing else
    made = {m["metadata"]["name"] for m in generate(grown, Options(image=""))}
    assert {"bulkhead-db-notes", "bulkhead-key-notes"} <= made


@pytest.mark.parametrize("managed", ["rag", "every module"])
def test_managed_databases_keep_only_their_secrets(managed: str) -> None:
    layout = Layout.parse(DEFAULT_LAYOUT)
    every = {d.name for d in DATABASES}
    elsewhere = every if managed == "every module" else {managed}
    objects = manifests(layout, Options(image="x", external_databases=frozenset(elsewhere)))
    kept = {o["metadata"]["name"] for o in objects if o["kind"] == "StatefulSet"}
    assert kept == {"redis"} | {f"db-{m}" for m in every - elsewhere}
    jobs = [o["metadata"]["name"] for o in objects if o["kind"] == "Job"]
    assert sorted(jobs) == sorted(f"migrate-{m}" for m in every)  # still migrated
    rag = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "rag")
    (server,) = rag["spec"]["template"]["spec"]["containers"]
    assert {
        "name": "BULKHEAD_DATABASE_URL_RAG",
        "valueFrom": {"secretKeyRef": {"name": "bulkhead-db-rag", "key": "url"}},
    } in server["env"]
    egress = {
        o["metadata"]["name"].removesuffix("-ingress"): o["spec"]["egress"]
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-ingress")
    }
    for service in layout.services:  # out of the cluster on 5432 only to a managed database
        leaves = any("ipBlock" in peer for rule in egress[service.name] for peer in rule["to"])
        assert leaves == bool(elsewhere & set(service.modules)), service.name
