"""The module map as a Mermaid diagram, drawn from the registry (`bulkhead docs`).

Every module with its own database, the contract calls it makes (`depends_on`), the saga
types and whose contracts their steps call, and the cross-module reads. Drawn from the
same descriptors that drive the import contracts and `bulkhead check`, so a new module
appears here the moment it is registered, and a stale diagram fails CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .module import Module

START = "<!-- module-map:start -->"
END = "<!-- module-map:end -->"


def mermaid(
    modules: Sequence[Module],
    saga_store: Module,
    saga_calls: Mapping[str, Sequence[str]],
    composed_from: Sequence[str],
) -> str:
    """`saga_calls`: saga type -> the modules its steps call; `composed_from`: the
    modules the cross-module reads ask."""
    lines = ["```mermaid", "flowchart LR"]
    lines.append('  subgraph process["one Bulkhead process"]')
    lines.append('    composition["composition<br/>dashboard, session context"]')
    lines.append('    sagas["sagas<br/>orchestrator"]')
    lines += [f'    {m.name}["{m.name}"]' for m in modules]
    lines.append("  end")
    for m in [*modules, saga_store]:
        lines.append(f'  {m.name}_db[("{m.name} database")]')
    for m in [*modules, saga_store]:
        lines.append(f"  {m.name} --- {m.name}_db")
    for m in modules:
        lines += [f"  {m.name} -->|contract| {dep}" for dep in m.depends_on]
    called: dict[str, list[str]] = {}
    for saga_type, targets in saga_calls.items():
        for target in targets:
            called.setdefault(target, []).append(saga_type)
    for target, saga_types in called.items():
        lines.append(f"  sagas -->|{', '.join(saga_types)}| {target}")
    lines += [f"  composition -.->|reads| {name}" for name in composed_from]
    lines.append("```")
    return "\n".join(lines)


def replace_between_markers(text: str, generated: str) -> str:
    """`text` with what lies between the markers replaced by `generated`."""
    start, end = text.index(START) + len(START), text.index(END)
    return f"{text[:start]}\n{generated}\n{text[end:]}"
