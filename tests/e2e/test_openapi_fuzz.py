"""Property-based requests from the OpenAPI document (schemathesis): no input is a 500.

Every operation gets generated valid and invalid bodies, parameters and paths, sent as
an admin to a real `bulkhead serve`; the check is that the server never answers 5xx.
`fuzz_hooks.py` mixes in shapes that once did: deep nesting, times past the calendar
in UTC, integers past 64 bits, such cursors.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_server import bulkhead, start_server

pytestmark = pytest.mark.e2e
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
ROOT = str(Path(__file__).resolve().parents[2])


def test_no_generated_request_is_a_server_error(tmp_path: Path) -> None:
    result = schemathesis_against_a_server(tmp_path, "--max-examples", "25")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout


def schemathesis_against_a_server(
    tmp_path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` with `options` as an admin against a real `bulkhead serve` on
    fresh SQLite files, failing only on a 5xx, with the hooks of `fuzz_hooks.py`."""
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(tmp_path / "var"),
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        "BULKHEAD_LOG_LEVEL": "WARNING",
    }
    bulkhead(env, "db", "upgrade")
    token = bulkhead(env, "token", "create", "--user", "fuzzer", "--admin").strip()
    for base in start_server(env, workers=1):
        return subprocess.run(
            [
                SCHEMATHESIS, "run", f"{base}/schema/openapi.json",
                "--header", f"Authorization: Bearer {token}",
                "--checks", "not_a_server_error",
                "--seed", "1",
                *options,
            ],
            capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks", "PYTHONPATH": ROOT},
        )  # fmt: skip
    raise AssertionError("the server never started")
