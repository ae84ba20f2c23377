"""Another local user reads nothing of the server's: the data dir is 0700, its files 0600,
and no message of the CLI shows a password. Run through the real `bulkhead` command."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BULKHEAD = str(Path(sys.executable).parent / "bulkhead")


def run(data_dir: Path | str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BULKHEAD, *args],
        env={"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    assert run(data_dir, "db", "upgrade").returncode == 0
    assert run(data_dir, "token", "create", "--user", "alice").returncode == 0
    assert mode(data_dir) == 0o700
    files = sorted(p for p in data_dir.iterdir() if p.is_file())
    assert any(p.name == "conversation.sqlite3" for p in files)
    assert any(p.name == "jwt-secret" for p in files)
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_a_data_dir_left_readable_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    assert run(data_dir, "db", "upgrade").returncode == 0
    data_dir.chmod(0o755)
    (data_dir / "memory.sqlite3").chmod(0o644)  # as an older version left them
    assert run(data_dir, "db", "upgrade").returncode == 0
    assert (mode(data_dir), mode(data_dir / "memory.sqlite3")) == (0o700, 0o600)


def test_an_empty_data_dir_setting_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [BULKHEAD, "db", "upgrade"],
        env={"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "BULKHEAD_DATA_DIR" in result.stderr and "is empty" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was written in the current directory


@pytest.mark.parametrize(
    "variable", ["BULKHEAD_REDIS_URL", "BULKHEAD_BUS_URL", "BULKHEAD_DATABASE_URL_BILLING"]
)
@pytest.mark.parametrize(
    "url", ["http://ops:hunter2-secret@db:6379/0", "redis//ops:hunter2-secret@db"]
)
def test_a_malformed_url_is_reported_without_its_password(
    tmp_path: Path, variable: str, url: str
) -> None:
    result = run(tmp_path / "var", "token", "create", "--user", "a", **{variable: url})
    assert result.returncode != 0 and variable in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout
    assert "ops@" not in result.stderr  # where the URL is quoted, it is as ops:***@db


@pytest.mark.parametrize(
    ("ttl", "problem"),
    [
        ("0s", "positive"),
        ("99999999d", "at most 30d"),
        ("1y", "positive number and a unit"),
    ],
)
def test_token_lifetimes_are_bounded(tmp_path: Path, ttl: str, problem: str) -> None:
    result = run(tmp_path / "var", "token", "create", "--user", "alice", "--ttl", ttl)
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr and "Traceback" not in result.stderr


def test_the_longest_lifetime_is_a_setting(tmp_path: Path) -> None:
    days_90 = run(tmp_path / "var", "token", "create", "--user", "a", "--ttl", "90d")
    assert days_90.returncode == 2
    allowed = run(
        tmp_path / "var",
        "token",
        "create",
        "--user",
        "a",
        "--ttl",
        "90d",
        BULKHEAD_TOKEN_MAX_TTL="90d",
    )
    assert allowed.returncode == 0 and allowed.stdout.count(".") == 2  # a JWT
