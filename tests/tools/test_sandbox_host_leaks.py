"""What of the host a tool could once reach through the sandbox's edges, tried for real.

Descriptors the server holds, unbounded tmpfs mounts, the host's boot line and memory
figures, netlink sockets, the source on a command line, and a report channel the tool
could write its own resource figures into. Each test runs the attack in a real sandbox.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest

from app.modules.tools.sandbox import Sandbox, SandboxLimits
from contracts.tools import ToolsAPI

from .conftest import processes_with
from .test_sandbox_escapes import attack

LIST_DESCRIPTORS = """
import json, os
held = {}
for fd in os.listdir('/proc/self/fd'):
    try:
        held[fd] = os.readlink(f'/proc/self/fd/{fd}')
    except OSError:
        pass  # the descriptor listdir itself used, closed by now
print(json.dumps(held))
"""


async def test_the_tool_holds_only_stdin_stdout_and_stderr(
    sandboxed: ToolsAPI, tmp_path: Path
) -> None:
    # What a server worker holds: an inheritable listening socket and an open file.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.set_inheritable(True)
    secret = (tmp_path / "secret").open("w")
    secret_fd = secret.fileno()
    try:
        import os

        os.set_inheritable(secret_fd, True)
        run = await attack(sandboxed, LIST_DESCRIPTORS)
    finally:
        listener.close()
        secret.close()
    assert run.status == "succeeded"
    assert sorted(run.result) == ["0", "1", "2"]
    assert all(target.startswith("pipe:") for target in run.result.values())


def test_the_spawner_closes_inherited_descriptors_under_uvloop(tmp_path: Path) -> None:
    # uvloop's own subprocesses would hand on the socket; the sandbox never uses them.
    uvloop = pytest.importorskip("uvloop")
    sandbox = Sandbox(bwrap="bwrap", python="/usr/bin/python3", uid=64_999)

    async def run() -> object:
        if not (await sandbox.status()).available:
            pytest.skip("the tool sandbox cannot run here")
        listener = socket.create_server(("127.0.0.1", 0))
        listener.set_inheritable(True)
        try:
            limits = SandboxLimits(timeout_s=10, memory_mb=256, max_output_bytes=65_536)
            return await sandbox.run(LIST_DESCRIPTORS, b"", limits)
        finally:
            listener.close()

    result = uvloop.run(run())
    assert b'"0"' in result.stdout.head and b'"3"' not in result.stdout.head


async def test_dev_shm_is_small_and_the_rest_of_dev_read_only(sandboxed: ToolsAPI) -> None:
    source = (
        "import json\n"
        "said = {}\n"
        "for path, size in (('/dev/shm/big', 8 << 20), ('/dev/planted', 1)):\n"
        "    try:\n"
        "        open(path, 'wb').write(b'x' * size)\n"
        "        said[path] = 'written'\n"
        "    except OSError as exc:\n"
        "        said[path] = exc.strerror\n"
        "open('/dev/null', 'w').write('still a device')\n"
        "print(json.dumps(said))"
    )
    run = await attack(sandboxed, source)
    assert run.result == {
        "/dev/shm/big": "No space left on device",
        "/dev/planted": "Read-only file system",
    }


async def test_the_sandbox_memory_counts_as_a_whole(sandboxed: ToolsAPI) -> None:
    """Eight processes of 200 MB each stay under a 256 MB address space one by one."""
    if "cgroup" not in sandboxed._sandbox.memory_accounting:  # type: ignore[attr-defined]  # a test reads the service's sandbox
        pytest.skip("this machine gives the server no writable cgroup; rlimits bound each process")
    source = (
        "import os, time\n"
        "for _ in range(3):\n"
        "    os.fork()\n"
        "block = bytearray(200 << 20)\n"
        "time.sleep(2)\n"
    )
    run = await attack(sandboxed, source, memory_mb=256, timeout_s=10)
    assert run.status == "memory_limit"
    assert run.resources is not None
    assert run.resources.max_rss_kb <= (256 + 16 + 1) * 1024


async def test_proc_hides_the_hosts_boot_line_and_memory(sandboxed: ToolsAPI) -> None:
    source = (
        "import json\n"
        "print(json.dumps([open(p).read() for p in ('/proc/cmdline', '/proc/meminfo')]))"
    )
    run = await attack(sandboxed, source)
    assert run.result == ["", ""]


async def test_netlink_sockets_are_refused_and_local_ones_work(sandboxed: ToolsAPI) -> None:
    source = (
        "import json, socket, threading\n"
        "said = {}\n"
        "for name in ('AF_NETLINK', 'AF_PACKET', 'AF_BLUETOOTH'):\n"
        "    try:\n"
        "        socket.socket(getattr(socket, name), socket.SOCK_RAW)\n"
        "        said[name] = 'opened'\n"
        "    except OSError as exc:\n"
        "        said[name] = exc.strerror\n"
        "a, b = socket.socketpair()\n"
        "a.send(b'x')\n"
        "said['AF_UNIX'] = b.recv(1).decode()\n"
        "thread = threading.Thread(target=said.setdefault, args=('thread', 'ran'))\n"
        "thread.start(); thread.join()\n"
        "print(json.dumps(said))"
    )
    run = await attack(sandboxed, source)
    assert run.result == {
        "AF_NETLINK": "Address family not supported by protocol",
        "AF_PACKET": "Address family not supported by protocol",
        "AF_BLUETOOTH": "Address family not supported by protocol",
        "AF_UNIX": "x",
        "thread": "ran",
    }


async def test_the_source_is_not_on_any_command_line(sandboxed: ToolsAPI) -> None:
    marker = f"secret-{uuid.uuid4().hex}"
    source = f"import time\nkey = '{marker}'\ntime.sleep(1.5)\nprint(1)"
    running = asyncio.create_task(attack(sandboxed, source, timeout_s=10))
    seen: list[int] = []
    while not running.done():
        seen += processes_with(marker)
        await asyncio.sleep(0.02)
    assert (await running).status == "succeeded"
    assert seen == []


async def test_a_source_past_the_argument_limit_runs(sandboxed: ToolsAPI) -> None:
    # 65k three-byte characters: over the kernel's 128 KiB limit for one argument.
    source = "import json\ntext = '" + "語" * 65_000 + "'\nprint(json.dumps(len(text)))"
    run = await attack(sandboxed, source)
    assert (run.status, run.result) == ("succeeded", 65_000)


async def test_a_forged_report_changes_nothing_in_the_audit_row(sandboxed: ToolsAPI) -> None:
    source = (
        "import json, os\n"
        "forged = json.dumps({'memory_error': True, 'cpu_ms': 999999999, 'max_rss_kb': 1})\n"
        "for fd in range(3, 16):\n"
        "    try:\n"
        "        os.write(fd, forged.encode())\n"
        "    except OSError:\n"
        "        pass\n"
        "print(json.dumps('done'))"
    )
    run = await attack(sandboxed, source)
    assert (run.status, run.result) == ("succeeded", "done")
    if run.resources is not None:  # measured by the host's cgroup where there is one
        assert run.resources.cpu_ms < 10_000 and run.resources.max_rss_kb > 1
