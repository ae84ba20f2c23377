"""`mypy --strict` checks every cross-module call, and is seen failing on broken copies.

A saga step and a composition part are copied as written, once unchanged and once with one
mistake each; mypy (run once over the copies, with the real tree on its path) must accept
the unchanged ones and name the mistake in each broken one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api as mypy

ROOT = Path(__file__).resolve().parents[2]

# (real file, its package, the mistake: text replaced once, what mypy must say)
BREAKAGES = {
    "saga_step_misspelled_method": (
        "app/sagas/create_session.py",
        "app.sagas",
        ("conversation.create_session(", "conversation.create_sesion("),
        '"ConversationAPI" has no attribute "create_sesion"',
    ),
    "composition_part_wrong_argument": (
        "app/composition/session_context.py",
        "app.composition",
        (
            "conversation.get_session(session_id=session_id, user_id=",
            "conversation.get_session(session_id=session_id, usr_id=",
        ),
        'Unexpected keyword argument "usr_id" for "get_session" of "ConversationAPI"',
    ),
}


def _copy(
    tmp_path: Path, name: str, source: str, package: str, change: tuple[str, str] | None
) -> Path:
    text = (ROOT / source).read_text()
    text = re.sub(
        r"^from \.(\w*)", lambda m: f"from {package}.{m.group(1)}".rstrip("."), text, flags=re.M
    )
    if change is not None:
        assert text.count(change[0]) == 1, f"{source} no longer has {change[0]!r}"
        text = text.replace(*change)
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp_path = tmp_path_factory.mktemp("typed_seams")
    files = []
    for name, (source, package, change, _) in BREAKAGES.items():
        files.append(_copy(tmp_path, f"{name}_intact", source, package, None))
        files.append(_copy(tmp_path, f"{name}_broken", source, package, change))
    stdout, stderr, _status = mypy.run(
        [
            "--strict",
            "--no-error-summary",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            *map(str, files),
        ]
    )
    assert not stderr, stderr
    return stdout


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_the_intact_copy_type_checks(mypy_report: str, name: str) -> None:
    assert f"{name}_intact.py" not in mypy_report, mypy_report


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_the_broken_copy_fails_naming_the_mistake(mypy_report: str, name: str) -> None:
    expected = BREAKAGES[name][3]
    errors = [line for line in mypy_report.splitlines() if f"{name}_broken.py" in line]
    assert any(expected in line for line in errors), mypy_report
