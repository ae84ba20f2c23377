"""How big each benchmark runs: full by default, tiny with `BENCH_QUICK=1` (CI runs every
benchmark that way to prove it still runs to the end), a `BENCH_*` variable wins over both."""

from __future__ import annotations

import os

QUICK = os.environ.get("BENCH_QUICK") == "1"


def size(variable: str, full: str, quick: str) -> str:
    return os.environ.get(variable) or (quick if QUICK else full)
