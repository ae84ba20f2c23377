"""The Dockerfile: the one image every service runs. No Docker daemon here, so its
instructions are read with a real parser, and its build stage's install is done for real
(the same `uv sync` from the same files) to prove what the image holds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from app.deploy.k8s_common import PORT, UID

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stages() -> list[list[dict[str, str]]]:
    """The instructions of each stage, in order."""
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    out: list[list[dict[str, str]]] = []
    for instruction in parsed.structure:
        if instruction["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def _values(stage: list[dict[str, str]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def test_two_stages_the_runtime_holding_only_the_environment(
    stages: list[list[dict[str, str]]],
) -> None:
    build, runtime = stages
    makefile_uv = re.search(r"UV_VERSION := (\S+)", (ROOT / "Makefile").read_text())
    assert makefile_uv and f'"uv=={makefile_uv.group(1)}"' in " ".join(_values(build, "RUN"))
    syncs = [r for r in _values(build, "RUN") if r.startswith("uv sync")]
    assert syncs and all("--frozen" in r and "--no-dev" in r for r in syncs)
    assert _values(runtime, "COPY") == ["--from=build /app/.venv /app/.venv"]


def test_the_runtime_is_unprivileged_with_bubblewrap_and_serves(
    stages: list[list[dict[str, str]]],
) -> None:
    runtime = stages[-1]
    assert _values(runtime, "USER") == [f"{UID}:{UID}"]  # the manifests' and compose's user
    runs = " ".join(_values(runtime, "RUN"))
    assert "install -y --no-install-recommends bubblewrap" in runs
    assert "embed_now" in runs  # the model is loaded once at build time, offline
    assert _values(runtime, "EXPOSE") == [str(PORT)]
    cmd = _values(runtime, "CMD")[0]
    assert '"bulkhead", "serve"' in cmd and f'"{PORT}"' in cmd


def test_the_build_stage_install_holds_the_model_and_no_dev_tools(tmp_path: Path) -> None:
    """What `uv sync --frozen --no-dev --no-editable` makes from the files .dockerignore
    lets in, once the build stage has compiled the word search's extension: the server,
    its migrations, the embedding model and the extension; no test tooling."""
    admitted = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    source = tmp_path / "src"
    source.mkdir()
    for name in admitted:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    for built in source.glob("**/*.so"):  # .dockerignore: never a host's build
        built.unlink()
    # As the build stage compiles the word search's extension, before the install.
    subprocess.run(
        ["make", "--no-print-directory", "app/kernel/libbm25counted.so"],
        cwd=source, check=True, timeout=120,
    )  # fmt: skip
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--offline", "--quiet"],
        cwd=source, env=env, check=True, timeout=600,
    )  # fmt: skip
    assert not (venv / "bin" / "pytest").exists()
    embedded = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from app.kernel.embedding.onnx import MiniLMEmbedder as M; "
         "print(M().embed_now(['bulkhead']).shape)"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert embedded.stdout.strip() == "(1, 384)"
    extension = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from app.kernel import bm25_counted as b; print(b.built(), b.LIBRARY)"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert extension.stdout.split() == [
        "True",
        str(next(venv.glob("lib/python*/site-packages/app/kernel/libbm25counted.so"))),
    ]
    migrated = subprocess.run(
        [str(venv / "bin" / "bulkhead"), "db", "upgrade"],
        cwd=tmp_path, env={"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "d")},
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "sagas: at" in migrated.stdout
