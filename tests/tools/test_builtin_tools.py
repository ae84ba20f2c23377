"""`bulkhead db upgrade` keeps the shipped tools current without undoing an admin's choices."""

from __future__ import annotations

import msgspec
import pytest

from app.modules.tools import builtin_tools, service
from contracts.tools import ToolsAPI

from .conftest import raw_tool


async def test_builtin_tools_are_registered_by_the_upgrade(tools: ToolsAPI) -> None:
    listed = await tools.list_tools()
    assert {t.name for t in listed.items} == {"python.exec", "math.evaluate", "text.stats"}
    assert all(t.builtin and t.version == 1 and t.enabled for t in listed.items)


async def test_upgrade_adds_a_version_only_where_a_release_changed_a_tool(
    tools: ToolsAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tools.set_enabled(name="text.stats", enabled=False)
    changed = tuple(
        msgspec.structs.replace(spec, source=spec.source + "\n# fixed\n")
        if spec.name == "math.evaluate"
        else spec
        for spec in builtin_tools.BUILTIN_TOOLS
    )
    monkeypatch.setattr(service, "BUILTIN_TOOLS", changed)
    await tools.sync_builtin_tools()  # type: ignore[attr-defined]  # a service method outside the contract
    await tools.sync_builtin_tools()  # type: ignore[attr-defined]  # idempotent
    versions = {
        t.name: [v.version for v in (await tools.list_versions(name=t.name)).items]
        for t in (await tools.list_tools(include_disabled=True)).items
    }
    assert versions == {"math.evaluate": [1, 2], "python.exec": [1], "text.stats": [1]}
    # An admin's disabling stands.
    assert (await tools.get(name="text.stats")).enabled is False


async def test_upgrade_leaves_an_admins_tool_of_the_same_name_alone(
    tools: ToolsAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tools.register(tool=raw_tool("web.search", "print(1)"))
    shipped = msgspec.structs.replace(builtin_tools.BUILTIN_TOOLS[0], name="web.search")
    monkeypatch.setattr(service, "BUILTIN_TOOLS", (shipped,))
    await tools.sync_builtin_tools()  # type: ignore[attr-defined]  # a service method outside the contract
    mine = await tools.list_versions(name="web.search")
    assert [(t.version, t.source, t.builtin) for t in mine.items] == [(1, "print(1)", False)]
