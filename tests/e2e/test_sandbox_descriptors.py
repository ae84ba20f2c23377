"""Under the real server, a tool holds stdin, stdout and stderr, and nothing of the server.

With several workers, uvicorn's listening socket is inheritable in every worker; a sandbox
started through uvloop's subprocess support once held it as fd 3 and could accept other
users' requests on it. The tool here lists its descriptors and what they point at.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .test_server import bulkhead, start_server

pytestmark = pytest.mark.e2e

LIST_DESCRIPTORS = """
import os
import shutil
for fd in sorted(os.listdir('/proc/self/fd'), key=int):
    try:
        print(fd, os.readlink(f'/proc/self/fd/{fd}'))
    except OSError:
        pass  # the one listdir used, closed by now
"""


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {"PATH": os.environ["PATH"], "BULKHEAD_DATA_DIR": str(tmp_path / "var")}
    bulkhead(env, "db", "upgrade")
    token = bulkhead(env, "token", "create", "--user", f"u{uuid.uuid4().hex[:8]}").strip()
    for base in start_server(env, request.param):
        yield base, token


def test_a_tool_lists_only_its_three_pipes(served: tuple[str, str]) -> None:
    base, token = served
    headers = {"Authorization": f"Bearer {token}"}
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed on this machine")
    # Each worker answers some calls: ask often enough that both are seen with two.
    for _ in range(6):
        answer = httpx.post(
            f"{base}/v1/tools/python.exec/executions",
            json={"params": {"code": LIST_DESCRIPTORS}},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        run = answer.json()
        assert run["status"] == "succeeded", run
        lines = run["result"]["stdout"].splitlines()
        assert [line.split()[0] for line in lines] == ["0", "1", "2"], lines
        assert all(line.split()[1].startswith("pipe:") for line in lines), lines
