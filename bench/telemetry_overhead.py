"""What observing costs: one contract call (append a message, SQLite) bare, wrapped in its
observing proxy with no tracer provider (spans are no-ops), and with the provider every
server installs (spans recorded for the call and each of its SQL statements, exported
nowhere). Ratios are to the bare call, measured in the same run and process; the provider
is installed last because a process cannot take it back.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.kernel import migrations
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.kernel.telemetry import ObservedService, TelemetrySettings, configure_tracing
from app.main import REGISTRY
from app.modules.conversation.service import ConversationService
from bench.append_message import CONTENT, Result, timed
from bench.sizes import size
from contracts.conversation import ConversationAPI, MessageCreate, SessionCreate
from tests.fakes.tools import FakeTools

CALLS = int(size("BENCH_TELEMETRY_CALLS", "1000", "20"))


async def measure(settings: Settings) -> list[Result]:
    database = open_module_database("conversation", settings)
    bare: ConversationAPI = ConversationService(database, settings, tools=FakeTools().as_api())
    observed: ConversationAPI = ObservedService(bare, "conversation", ConversationAPI)
    message = MessageCreate(role="user", content=CONTENT)
    try:
        session = await bare.create_session(user_id="bench", session=SessionCreate())

        def appending(api: ConversationAPI) -> Callable[[], Awaitable[object]]:
            return lambda: api.append_message(
                session_id=session.id, user_id="bench", message=message
            )

        await timed("sqlite", "warm-up", 50, appending(bare))
        results = [
            await timed("sqlite", "bare", CALLS, appending(bare)),
            await timed("sqlite", "observed, no provider", CALLS, appending(observed)),
        ]
        configure_tracing(TelemetrySettings(), "bench")
        results.append(
            await timed("sqlite", "observed, spans recorded", CALLS, appending(observed))
        )
        return results
    finally:
        await database.dispose()


def render(results: list[Result]) -> str:
    base = results[0]
    lines = [
        "Telemetry overhead: ConversationAPI.append_message on SQLite, in-process",
        f"{'path':<28}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}",
    ]
    for r in results:
        ratio = r.throughput / base.throughput
        lines.append(
            f"{r.path:<28}{r.throughput:>10.0f}{r.percentile(50):>9.2f}"
            f"{r.percentile(99):>9.2f}{ratio:>8.2f}x"
        )
    return "\n".join(lines)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), embedding_model="hashing-256")
        await migrations.upgrade_modules([REGISTRY["conversation"]], settings)
        print(render(await measure(settings)))
        print()


if __name__ == "__main__":
    asyncio.run(main())
