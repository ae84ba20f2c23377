"""A process starts with the cycle collector paused for its imports, and never leaves
it paused: a server that did would keep every cycle its requests make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import gc
from app import startup

app = startup.create_app()
frozen = gc.get_freeze_count()
try:
    startup._imported("app.no_such_module")
except ModuleNotFoundError:
    pass
print(gc.isenabled(), frozen > 100_000, 'mcp' in __import__('sys').modules)
"""


def test_a_worker_app_is_built_with_start_up_frozen_and_the_collector_back_on(
    tmp_path: Path,
) -> None:
    env = {"BULKHEAD_DATA_DIR": str(tmp_path), "BULKHEAD_EMBEDDING_MODEL": "hashing-256"}
    result = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # On after a failed import too; what start-up made is frozen; the MCP endpoint is
    # still served (its SDK is imported by `create_app`, not by the CLI's imports).
    assert result.stdout.split() == ["True", "True", "True"]


def test_commands_other_than_serve_do_not_import_the_mcp_sdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, app.cli; print('mcp' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False", result.stderr
