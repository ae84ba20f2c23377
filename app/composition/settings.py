"""Settings of the composed reads."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.setting import Milliseconds, setting


@dataclass(frozen=True)
class CompositionSettings:
    timeout_s: float = setting(
        "COMPOSITION_TIMEOUT_MS",
        2.0,
        Milliseconds(),
        "each part of a composed read (dashboard, session context), separately",
    )
