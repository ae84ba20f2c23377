"""An in-memory stand-in for `ToolsAPI`, for testing modules that only ask about tools."""

from __future__ import annotations


class FakeTools:
    """Knows the tools it was given (name -> versions); answers `exists` like the real one."""

    def __init__(self, tools: dict[str, set[int]] | None = None) -> None:
        self.tools = tools if tools is not None else {}
        self.asked: list[tuple[str, int | None]] = []

    async def exists(self, *, name: str, version: int | None = None) -> bool:
        self.asked.append((name, version))
        versions = self.tools.get(name, set())
        return bool(versions) and (version is None or version in versions)
