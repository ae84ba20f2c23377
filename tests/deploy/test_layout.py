"""The layout: services from the CLI's syntax, and who calls whom, from the registry."""

from __future__ import annotations

import pytest

from app.deploy.layout import DEFAULT_LAYOUT, Layout, LayoutError
from app.kernel.rpc.wiring import allowed_callers
from app.main import DATABASES, REGISTRY


def test_the_default_layout_puts_every_module_somewhere_once() -> None:
    layout = Layout.parse(DEFAULT_LAYOUT)
    assert [s.name for s in layout.services] == ["edge", "rag", "tools", "memory", "analytics"]
    assert sorted(m for s in layout.services for m in s.modules) == sorted(
        d.name for d in DATABASES
    )
    assert layout.edge.key_modules == ("conversation", "billing", "sagas", "composition")


@pytest.mark.parametrize(
    ("specs", "says"),
    [
        (
            ["edge=conversation,billing,sagas,rag", "rag", "tools", "memory", "analytics"],
            "more than one",
        ),
        (["edge=conversation,billing,sagas", "rag", "tools", "memory"], "analytics placed in no"),
        (["edge=conversation,billing,sagas", "search=rag,vectors"], "no module vectors"),
        (
            ["edge=conversation,billing", "sagas", "rag", "tools", "memory", "analytics"],
            "saga store",
        ),
        (["Edge=conversation,billing,sagas,rag,tools,memory,analytics"], "lower-case"),
    ],
)
def test_a_layout_that_cannot_run_is_refused_saying_why(specs: list[str], says: str) -> None:
    with pytest.raises(LayoutError, match=says):
        Layout.parse(specs)


def test_each_service_is_configured_to_call_what_it_needs_where_it_runs() -> None:
    layout = Layout.parse(DEFAULT_LAYOUT)
    url = {s.name: f"http://{s.name}:8000" for s in layout.services}
    memory = next(s for s in layout.services if s.name == "memory")
    assert layout.environment(memory, lambda s: url[s.name]) == {
        "BULKHEAD_SERVICE_NAME": "memory",
        "BULKHEAD_MODULES": "memory",
        "BULKHEAD_REMOTE_CONVERSATION": "http://edge:8000",  # whose session it is
        "BULKHEAD_REMOTE_SAGAS": "http://edge:8000",  # token revocations
    }
    edge = layout.environment(layout.edge, lambda s: url[s.name])
    assert "BULKHEAD_MODULES" not in edge  # all but its remotes: it serves the public API
    assert {k for k in edge if k.startswith("BULKHEAD_REMOTE_")} == {
        f"BULKHEAD_REMOTE_{m}" for m in ("RAG", "TOOLS", "MEMORY", "ANALYTICS")
    }


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (
            DEFAULT_LAYOUT,
            {
                "edge": {"rag", "tools", "memory", "analytics"},  # the saga store, revocations
                "rag": {"edge"},
                "tools": {"edge"},
                "memory": {"edge"},
                "analytics": {"edge"},
            },
        ),
        (
            ("edge=billing,sagas,analytics", "conversation", "tools", "memory", "rag"),
            {
                "edge": {"conversation", "tools", "memory", "rag"},
                "conversation": {"edge", "memory"},  # memory checks whose a session is
                "tools": {"edge", "conversation"},  # routing decisions name tools
                "memory": {"edge"},
                "rag": {"edge"},
            },
        ),
    ],
    ids=["default", "conversation-alone"],
)
def test_callers_follow_the_registry_and_the_verifier_lets_each_in(
    specs: tuple[str, ...], expected: dict[str, set[str]]
) -> None:
    layout = Layout.parse(specs)
    allowed = allowed_callers(REGISTRY)
    for service in layout.services:
        assert {c.name for c in layout.callers(service)} == expected[service.name], service
        for caller in layout.callers(service):  # and the receiving verifier lets each in
            called = set(layout.calls(caller)) & set(service.modules) or {"events"}
            assert any(allowed[m] & set(caller.key_modules) for m in called), (caller, service)
