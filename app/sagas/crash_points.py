"""Fault injection: end the process abruptly at a named point (`BULKHEAD_SAGA_CRASH_AT`).

Points are `"{saga}:{step}:{before|after}_{action|compensation}"`, e.g.
`create_session:initialize_memory:after_action`: the call has returned, nothing of it is
recorded yet. Only tests set the variable; `os._exit` skips every cleanup, like a kill.
"""

from __future__ import annotations

import os

CRASH_EXIT_CODE = 70


def crash_point(name: str, armed: str | None) -> None:
    if armed is not None and name == armed:
        os._exit(CRASH_EXIT_CODE)
