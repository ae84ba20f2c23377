"""What a tool must not be able to do, tried for real inside the bubblewrap sandbox.

Each attack is a registered tool; each must fail or be stopped, and its audit row must say
how. Where an attack could only be proved harmless by contrast, a twin shows that the same
act succeeds outside the sandbox (the database answers, the file exists).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest

from app.kernel.settings import Settings
from app.modules.tools.sandbox_command import source_label
from contracts.tools import Execution, ToolsAPI

from .conftest import ALICE, processes_with, raw_tool, wait_until_gone

PROJECT_FILE = Path(__file__).resolve().parents[2] / "pyproject.toml"


async def attack(tools: ToolsAPI, source: str, **fields: object) -> Execution:
    name = f"attack.t{uuid.uuid4().hex[:8]}"
    await tools.register(tool=raw_tool(name, source, **fields))
    execution = await tools.execute(name=name, params={}, caller=ALICE)
    # The audit row says the same as the answer.
    logged = await tools.get_execution(execution_id=execution.id, user_id="alice")
    assert (logged.status, logged.reason) == (execution.status, execution.reason)
    return execution


def postgres_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


async def test_tcp_to_the_local_database_is_refused(sandboxed: ToolsAPI) -> None:
    if not postgres_listening():
        pytest.skip("nothing listens on 127.0.0.1:5432 on the host, so refusal would prove nothing")
    run = await attack(
        sandboxed, "import socket\nsocket.create_connection(('127.0.0.1', 5432), timeout=3)"
    )
    assert run.status == "failed"
    assert "ConnectionRefusedError" in (run.reason or "")


async def test_tcp_to_an_outside_address_has_no_route(sandboxed: ToolsAPI) -> None:
    run = await attack(
        sandboxed, "import socket\nsocket.create_connection(('1.1.1.1', 443), timeout=3)"
    )
    assert run.status == "failed"
    assert "Network is unreachable" in (run.reason or "")


async def test_name_resolution_finds_nothing(sandboxed: ToolsAPI) -> None:
    run = await attack(sandboxed, "import socket\nsocket.getaddrinfo('pypi.org', 443)")
    assert run.status == "failed"
    assert "gaierror" in (run.reason or "")


@pytest.mark.parametrize("target", ["data dir", "project", "/etc/shadow"])
async def test_host_files_are_not_there(
    sandboxed: ToolsAPI, tools_settings: Settings, target: str
) -> None:
    path = {
        "data dir": tools_settings.data_dir.resolve() / "jwt-secret",
        "project": PROJECT_FILE,
        "/etc/shadow": Path("/etc/shadow"),
    }[target]
    if target == "data dir":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("secret")
    assert path.exists()  # the twin: the file is there on the host
    run = await attack(sandboxed, f"print(open({str(path)!r}).read())")
    assert run.status == "failed"
    assert "FileNotFoundError" in (run.reason or "")
    assert run.stdout is not None and run.stdout.size == 0


async def test_python_exec_sees_no_host_files_either(sandboxed: ToolsAPI) -> None:
    run = await sandboxed.execute(
        name="python.exec",
        params={"code": f"import os\nprint(sorted(os.listdir('/')))\nopen({str(PROJECT_FILE)!r})"},
        caller=ALICE,
    )
    assert run.status == "succeeded"  # the code's own error is its result
    assert run.result["stdout"] == "['bin', 'dev', 'lib', 'lib64', 'proc', 'tmp', 'usr']\n"
    assert "FileNotFoundError" in run.result["error"]


@pytest.mark.parametrize("path", ["/usr/bulkhead-escape", "/usr/lib/bulkhead-escape"])
async def test_writing_outside_tmp_is_refused(sandboxed: ToolsAPI, path: str) -> None:
    run = await attack(sandboxed, f"open({path!r}, 'w').write('x')")
    assert run.status == "failed"
    assert "Read-only file system" in (run.reason or "")
    assert not Path(path).exists()


async def test_writing_in_tmp_works_and_vanishes(sandboxed: ToolsAPI) -> None:
    source = "import json, os\nopen('/tmp/note', 'w').write('x')\nprint(json.dumps(os.getcwd()))"
    run = await attack(sandboxed, source)
    assert (run.status, run.result) == ("succeeded", "/tmp")
    again = await attack(sandboxed, "import json, os\nprint(json.dumps(os.listdir('/tmp')))")
    assert again.result == []


async def test_tmp_is_capped(sandboxed: ToolsAPI) -> None:
    # The tmpfs is memory outside the address-space limit, so it has its own size (16 MB);
    # each file stays under the 8 MB file-size limit.
    source = "for i in range(10):\n    open(f'/tmp/part{i}', 'wb').write(b'x' * (4 << 20))"
    run = await attack(sandboxed, source)
    assert run.status == "failed"
    assert "No space left on device" in (run.reason or "")


async def test_one_file_is_capped_in_size(sandboxed: ToolsAPI) -> None:
    run = await attack(sandboxed, "open('/tmp/big', 'wb').write(b'x' * (12 << 20))")
    assert run.status == "failed"
    assert "File too large" in (run.reason or "")


async def test_fork_bomb_is_contained_and_leaves_nothing(sandboxed: ToolsAPI) -> None:
    source = f"import os  # {uuid.uuid4()}\nwhile True:\n    os.fork()"
    run = await attack(sandboxed, source, timeout_s=5)
    assert run.status in ("failed", "timed_out")
    # Many processes write their tracebacks at once, so the whole stderr tells, not its
    # last line.
    said = run.stderr.text if run.stderr else ""
    assert run.status == "timed_out" or "Resource temporarily unavailable" in said
    assert await wait_until_gone(source_label(source)) == []


async def test_allocating_2_gb_hits_the_memory_limit(sandboxed: ToolsAPI) -> None:
    run = await attack(sandboxed, "block = bytearray(2 * 1024**3)", memory_mb=256)
    assert run.status == "memory_limit"
    assert run.reason == "reached its memory limit of 256 MB"


async def test_infinite_loop_is_stopped_at_the_time_limit(sandboxed: ToolsAPI) -> None:
    run = await attack(sandboxed, "while True:\n    pass", timeout_s=1)
    assert run.status == "timed_out"
    assert run.duration_ms is not None and run.duration_ms >= 1000


async def test_sleeping_past_the_wall_clock_is_stopped(sandboxed: ToolsAPI) -> None:
    source = f"import time  # {uuid.uuid4()}\ntime.sleep(600)"
    run = await attack(sandboxed, source, timeout_s=1)
    assert (run.status, run.reason) == ("timed_out", "stopped at the wall-clock limit of 1s")
    assert await wait_until_gone(source_label(source)) == []


async def test_50_mb_of_stdout_is_truncated_and_the_tool_stopped(sandboxed: ToolsAPI) -> None:
    run = await attack(sandboxed, "import sys\nsys.stdout.write('x' * (50 << 20))")
    assert run.status == "output_limit"
    assert run.stdout is not None and run.stdout.truncated
    assert run.stdout.size > 1_048_576  # past the limit, where it was stopped
    assert len(run.stdout.text) <= 65_536  # what the audit log keeps
    assert run.result is None


async def test_child_left_behind_is_killed_when_the_tool_returns(sandboxed: ToolsAPI) -> None:
    marker = f"orphan-{uuid.uuid4().hex}"
    source = (
        "import json, subprocess\n"
        f"subprocess.Popen(['/usr/bin/python3', '-c', 'import time; time.sleep(600)  # {marker}'],"
        " start_new_session=True)\n"
        "print(json.dumps('spawned'))"
    )
    run = await attack(sandboxed, source)
    assert (run.status, run.result) == ("succeeded", "spawned")
    assert await wait_until_gone(marker) == []


async def test_nothing_of_a_sandbox_outlives_a_stopped_run(sandboxed: ToolsAPI) -> None:
    source = (
        f"import os, time  # {uuid.uuid4()}\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        break\n"
        "time.sleep(600)"
    )
    label = source_label(source)
    running = asyncio.create_task(attack(sandboxed, source, timeout_s=2))
    # The twin: while it runs, the scan does see its processes (bwrap, PID 1, 4 pythons).
    while len(processes_with(label)) < 6 and not running.done():
        await asyncio.sleep(0.02)
    assert len(processes_with(label)) >= 6
    run = await running
    assert run.status == "timed_out"
    assert await wait_until_gone(label) == []


async def test_the_tool_has_no_capabilities_and_cannot_gain_privileges(sandboxed: ToolsAPI) -> None:
    source = (
        "import json\n"
        "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "print(json.dumps({k: status[k].strip() for k in ('CapEff', 'CapBnd', 'NoNewPrivs')}))"
    )
    run = await attack(sandboxed, source)
    assert run.result == {
        "CapEff": "0000000000000000",
        "CapBnd": "0000000000000000",
        "NoNewPrivs": "1",
    }


async def test_four_sandboxes_run_at_once(sandboxed: ToolsAPI) -> None:
    name = "sleep.half"
    await sandboxed.register(tool=raw_tool(name, "import json, time\ntime.sleep(0.5)\nprint(1)"))
    runs = await asyncio.gather(
        *(sandboxed.execute(name=name, params={}, caller=ALICE) for _ in range(4))
    )
    assert [r.status for r in runs] == ["succeeded"] * 4


async def test_a_cancelled_call_leaves_no_sandbox_running(sandboxed: ToolsAPI) -> None:
    source = f"import time  # {uuid.uuid4()}\ntime.sleep(600)"
    marker = source_label(source)
    name = "attack.cancelled"
    await sandboxed.register(tool=raw_tool(name, source))
    call = asyncio.create_task(sandboxed.execute(name=name, params={}, caller=ALICE))
    while not processes_with(marker):
        await asyncio.sleep(0.02)
    call.cancel()  # as when the client goes away
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 10)
    assert await wait_until_gone(marker) == []


async def test_a_call_cancelled_while_its_sandbox_starts_leaves_nothing(
    sandboxed: ToolsAPI,
) -> None:
    source = f"import time  # {uuid.uuid4()}\ntime.sleep(600)"
    marker = source_label(source)
    name = "attack.cancelled.early"
    await sandboxed.register(tool=raw_tool(name, source))
    for delay in (0, 0.001, 0.003, 0.006, 0.01):  # cancel at different moments of the start
        call = asyncio.create_task(sandboxed.execute(name=name, params={}, caller=ALICE))
        await asyncio.sleep(delay)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(call, 10)
    assert await wait_until_gone(marker) == []
