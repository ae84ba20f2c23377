"""Sandbox cost: a trivial tool in bubblewrap vs the same code in a bare subprocess.

In one run, on SQLite:
  bare      `python3 -I -S -c <tool>` as a plain asyncio subprocess: the baseline
  sandbox   the same code through the module's Sandbox (setpriv as root, bwrap with new
            namespaces, the entry script's rlimits, output capture)
  execute   ToolsAPI.execute: lookup, policy, JSON Schema, rate limit, sandbox, audit row
then executions per second through ToolsAPI.execute at 2, 4 and 8 concurrent calls, with
the ratio to one call at a time.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from app.kernel import migrations
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.tools.service import ToolsService
from app.modules.tools.settings import ToolsSettings
from bench.sizes import size
from contracts.tools import Caller, ToolCreate, ToolsAPI

RUNS = int(size("BENCH_TOOL_RUNS", "100", "5"))
CONCURRENT_CALLS = int(size("BENCH_TOOL_CONCURRENT_CALLS", "64", "8"))
SOURCE = "import json, sys\nprint(json.dumps({'echo': json.load(sys.stdin)}))"
PARAMS = {"text": "hello"}
CALLER = Caller(user_id="bench", client_id="bench")


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    await call()  # warm up
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def bare_subprocess(python: str) -> None:
    process = await asyncio.create_subprocess_exec(
        python,
        "-I",
        "-S",
        "-c",
        SOURCE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate(b'{"text": "hello"}')
    assert process.returncode == 0 and out, out


async def throughput(tools: ToolsAPI, concurrency: int) -> float:
    queue = list(range(CONCURRENT_CALLS))

    async def worker(caller: Caller) -> None:
        while queue:
            queue.pop()
            run = await tools.execute(name="bench.echo", params=PARAMS, caller=caller)
            assert run.status == "succeeded", run.reason

    # One user per worker: a single user's calls are held to their share of the slots.
    callers = [
        Caller(user_id=f"{CALLER.user_id}-{i}", client_id=CALLER.client_id)
        for i in range(concurrency)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(worker(caller) for caller in callers))
    return CONCURRENT_CALLS / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = replace(Settings.from_env({}), data_dir=Path(data_dir)).with_values(
            ToolsSettings, rate_limit=(10**6, 60)
        )
        await migrations.upgrade_modules([REGISTRY["tools"]], settings)
        database = open_module_database("tools", settings)
        try:
            tools = ToolsService(database, settings)
            health = await tools.component_health()
            if not health["sandbox"].ok:
                print(f"tools sandbox: skipped ({health['sandbox'].error})")
                return
            await tools.register(
                tool=ToolCreate(name="bench.echo", source=SOURCE, schema={"type": "object"})
            )
            await report_latencies(tools, settings)
            await report_throughput(tools)
        finally:
            await database.dispose()


async def report_latencies(tools: ToolsAPI, settings: Settings) -> None:
    from app.modules.tools.sandbox import Sandbox, SandboxLimits  # the layer being measured

    sandbox = Sandbox(
        bwrap=settings.of(ToolsSettings).sandbox_bwrap,
        python=settings.of(ToolsSettings).sandbox_python,
        uid=settings.of(ToolsSettings).sandbox_uid,
        cgroup=settings.of(ToolsSettings).sandbox_cgroup,
    )
    limits = SandboxLimits(timeout_s=5, memory_mb=256, max_output_bytes=1 << 20)

    async def sandboxed() -> None:
        run = await sandbox.run(SOURCE, b'{"text": "hello"}', limits)
        assert run.exit_code == 0, run.stderr

    async def executed() -> None:
        await tools.execute(name="bench.echo", params=PARAMS, caller=CALLER)

    rows = {
        "bare subprocess": await timed(
            lambda: bare_subprocess(settings.of(ToolsSettings).sandbox_python), RUNS
        ),
        "sandbox (bwrap)": await timed(sandboxed, RUNS),
        "ToolsAPI.execute": await timed(executed, RUNS),
    }
    base = statistics.median(rows["bare subprocess"])
    print(f"\nTool sandbox: a trivial tool, {RUNS} sequential runs each (SQLite)")
    print(f"{'path':<18} {'p50 ms':>8} {'p95 ms':>8} {'overhead ms':>12} {'p50 vs bare':>12}")
    for path, latencies in rows.items():
        p50 = statistics.median(latencies)
        print(
            f"{path:<18} {p50:>8.2f} {percentile(latencies, 95):>8.2f} "
            f"{p50 - base:>12.2f} {p50 / base:>11.2f}x"
        )


async def report_throughput(tools: ToolsAPI) -> None:
    print(f"\nToolsAPI.execute throughput, {CONCURRENT_CALLS} calls per level")
    print(f"{'concurrent':>10} {'exec/s':>8} {'vs 1':>6}")
    single = await throughput(tools, 1)
    for concurrency in (1, 2, 4, 8):
        rate = single if concurrency == 1 else await throughput(tools, concurrency)
        print(f"{concurrency:>10} {rate:>8.1f} {rate / single:>5.2f}x")
