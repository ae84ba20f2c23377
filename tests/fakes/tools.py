"""An in-memory stand-in for `ToolsAPI`, for testing modules that only ask about tools.

`as_api()` hands it over as one: it implements only `exists`, all conversation calls.
"""

from __future__ import annotations

from typing import cast

from contracts.tools import ToolsAPI


class FakeTools:
    """Knows the tools it was given (name -> versions); answers `exists` like the real one."""

    def __init__(self, tools: dict[str, set[int]] | None = None) -> None:
        self.tools = tools if tools is not None else {}
        self.asked: list[tuple[str, int | None]] = []

    def as_api(self) -> ToolsAPI:
        return cast(ToolsAPI, self)  # the part of it the module under test calls

    async def exists(self, *, name: str, version: int | None = None) -> bool:
        self.asked.append((name, version))
        versions = self.tools.get(name, set())
        return bool(versions) and (version is None or version in versions)
