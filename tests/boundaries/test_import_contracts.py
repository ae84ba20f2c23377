"""`lint-imports` keeps the boundaries, and each contract is seen failing on a broken copy."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "importlinter.ini"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for name in ("app", "contracts"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "importlinter.ini", tmp_path)
    return tmp_path


def test_the_real_tree_keeps_every_contract(tree_copy: Path) -> None:
    result = lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("file", "bad_import", "contract"),
    [
        (
            "app/modules/conversation/service.py",
            "import app.modules.billing",
            "Modules never import each other",
        ),
        ("contracts/billing.py", "import sqlalchemy", "Contracts import nothing from the app"),
        (
            "contracts/conversation.py",
            "import app.kernel.settings",
            "Contracts import nothing from the app",
        ),
        (
            "app/sagas/__init__.py",
            "import app.modules.billing",
            "Composition and sagas talk to modules only",
        ),
        ("app/kernel/settings.py", "import app.modules", "Layers"),
        (
            "app/kernel/cli_helper.py",
            "import app.modules.conversation.models",
            "A module's files are private",
        ),
        (
            "app/kernel/cli_helper.py",
            "import app.modules.conversation",
            "Only the composition root imports a module",
        ),
        (
            "app/kernel/embedding/hashing.py",
            "import app.kernel.embedding.factory",
            "Embedders import only their base",
        ),
        (
            "app/kernel/embedding/http.py",
            "import app.kernel.embedding.onnx",
            "Embedders import only their base",
        ),
    ],
)
def test_a_broken_boundary_fails_its_contract(
    tree_copy: Path, file: str, bad_import: str, contract: str
) -> None:
    target = tree_copy / file
    existing = target.read_text() if target.exists() else ""
    target.write_text(existing + f"\n{bad_import}  # deliberately broken boundary\n")
    result = lint(tree_copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
