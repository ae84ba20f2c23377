"""Call several contracts at once, each with its own timeout; a part that fails or is
too slow becomes an error entry, never a failed whole."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from contracts.absent import ModuleNotRunning
from contracts.errors import ContractError

logger = logging.getLogger("bulkhead.composition")


class Part(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool
    latency_ms: float
    data: Any = None
    error: str | None = None


# None: nothing in this process could answer (the event system is not running).
PartCall = Callable[[], Awaitable[Any]] | None


async def gather_parts(calls: Mapping[str, PartCall], timeout_s: float) -> dict[str, Part]:
    results = await asyncio.gather(*(_part(name, call, timeout_s) for name, call in calls.items()))
    return dict(zip(calls, results, strict=True))


async def _part(name: str, call: PartCall, timeout_s: float) -> Part:
    if call is None:
        return Part(ok=False, latency_ms=0.0, error=f"the {name} module is not enabled here")
    started = time.perf_counter()
    try:
        data = await asyncio.wait_for(call(), timeout_s)
    except ModuleNotRunning as exc:  # no call was made: nothing to time
        return Part(ok=False, latency_ms=0.0, error=exc.message)
    except TimeoutError:
        error = f"no answer within {timeout_s:g}s"
    except ContractError as exc:
        error = f"{exc.code}: {exc.message}"
    except Exception as exc:  # one broken part must not break the whole answer
        logger.exception("part %s failed", name)
        error = f"failed: {type(exc).__name__}"
    else:
        return Part(ok=True, latency_ms=_since(started), data=data)
    return Part(ok=False, latency_ms=_since(started), error=error)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
