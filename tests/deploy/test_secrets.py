"""`bulkhead deploy secrets`: every Secret the manifests reference, private, and kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from app.deploy.files import read_manifests
from tests.e2e.test_server import bulkhead


def test_secrets_cover_every_reference_stay_private_and_survive_a_rerun(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "data")}
    k8s, secrets = tmp_path / "k8s", tmp_path / "secrets"
    bulkhead(env, "deploy", "k8s", "--image", "x", "--out", str(k8s))
    bulkhead(env, "deploy", "secrets", "--out", str(secrets))
    made = {s["metadata"]["name"]: s["stringData"] for s in read_manifests(secrets)}
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in secrets.glob("*.yaml"))
    referenced: set[tuple[str, str | None]] = set()
    for o in read_manifests(k8s):
        if o["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = o["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            for variable in container.get("env", []):
                if ref := variable.get("valueFrom", {}).get("secretKeyRef"):
                    referenced.add((ref["name"], ref["key"]))
        for volume in pod.get("volumes", []):
            for source in volume.get("projected", {}).get("sources", []):
                referenced.add((source["secret"]["name"], None))
    for name, key in referenced:
        assert name in made, name
        assert key is None or made[name].get(key), (name, key)
    assert made["bulkhead-service-public-keys"]["rag.modules"] == "rag\n"
    assert "BEGIN PRIVATE KEY" in made["bulkhead-key-edge"]["edge.key"]
    bulkhead(env, "deploy", "secrets", "--out", str(secrets))  # again: nothing changes
    again = {s["metadata"]["name"]: s["stringData"] for s in read_manifests(secrets)}
    assert again == made


def test_a_managed_database_is_only_its_url(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "data")}
    managed = "postgresql://rag:pw@rag.abc.eu-west-1.rds.amazonaws.com:5432/rag"
    bulkhead(
        env, "deploy", "secrets", "--out", str(tmp_path / "s"), "--database-url", f"rag={managed}"
    )
    made = {s["metadata"]["name"]: s["stringData"] for s in read_manifests(tmp_path / "s")}
    assert made["bulkhead-db-rag"] == {"url": managed}
    assert made["bulkhead-db-memory"]["url"].startswith("postgresql://bulkhead_memory:")
