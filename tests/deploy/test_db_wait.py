"""`bulkhead db wait`: a pod's init step holds until its modules' migrations have run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.e2e.test_server import BULKHEAD, bulkhead


def test_wait_holds_until_the_databases_are_at_head(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path)}
    early = subprocess.run(
        [BULKHEAD, "db", "wait", "--module", "billing", "--timeout", "1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert early.returncode == 1
    assert "not migrated after 1s: billing" in early.stderr and "Traceback" not in early.stderr
    bulkhead(env, "db", "upgrade", "--module", "billing")
    assert "migrated: billing" in bulkhead(env, "db", "wait", "--module", "billing")
