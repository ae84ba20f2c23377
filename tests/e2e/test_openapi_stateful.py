"""Stateful property-based testing from the OpenAPI document (schemathesis' stateful
phase): chains of calls that feed each response into the next (create a session, then
post to it, read it, close it, delete it; register a tool, then run it, version it),
which single generated calls rarely reach because random ids are 404s. Schemathesis infers
the links between operations from the response schemas and path parameters. The check:
no step of any chain is a 5xx, and chains really followed links.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_server import bulkhead, start_server

pytestmark = pytest.mark.e2e
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
ROOT = str(Path(__file__).resolve().parents[2])


def test_no_chain_of_calls_is_a_server_error(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "BULKHEAD_DATA_DIR": str(tmp_path / "var"),
        "BULKHEAD_EMBEDDING_MODEL": "hashing-256",
        "BULKHEAD_LOG_LEVEL": "WARNING",
    }
    bulkhead(env, "db", "upgrade")
    token = bulkhead(env, "token", "create", "--user", "fuzzer", "--admin").strip()
    for base in start_server(env, workers=1):
        result = subprocess.run(
            [
                SCHEMATHESIS, "run", f"{base}/schema/openapi.json",
                "--header", f"Authorization: Bearer {token}",
                "--checks", "not_a_server_error",
                "--phases", "stateful",
                "--max-time", "15",  # scenarios repeat until then: ~270 here
                "--seed", "1",
            ],
            capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks", "PYTHONPATH": ROOT},
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-4000:]
        covered = re.search(r"API Links:\s+(\d+) covered", result.stdout)
        # Chains that carried an id from one response into the next call (5 of the 176
        # inferred links here; 2 even in a short run).
        assert covered and int(covered.group(1)) >= 2, result.stdout[-2000:]
