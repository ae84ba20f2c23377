"""The typed record of every module's contract: what sagas, composition and services call.

Built once, in the composition root (`app/main.py`). Each attribute is typed by its
module's Protocol, so a misspelled method or argument fails `mypy --strict` where it is
written. A module that does not run in this process is a stand-in (`absent.py`) that
answers every call with `ModuleNotRunning`, so callers never check for `None`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, get_type_hints

from .absent import AbsentModule
from .analytics import AnalyticsAPI
from .billing import BillingAPI
from .conversation import ConversationAPI
from .events import EventSource
from .memory import MemoryAPI
from .rag import RagAPI
from .sagas import SagaAdminAPI
from .tools import ToolsAPI


@dataclass(frozen=True)
class Contracts:
    conversation: ConversationAPI
    billing: BillingAPI
    rag: RagAPI
    tools: ToolsAPI
    memory: MemoryAPI
    analytics: AnalyticsAPI
    sagas: SagaAdminAPI  # the saga store: not a module, but it has a contract like one

    @classmethod
    def none_running(cls) -> Contracts:
        """Every attribute a stand-in; the composition root replaces them one by one."""
        protocols = get_type_hints(cls)
        return cls(**{f.name: AbsentModule(f.name, protocols[f.name]) for f in fields(cls)})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_service(self, name: str, service: object) -> Contracts:
        """This record with `name` served by `service` (a local service or a remote client).
        The service's type was checked where it was built: its factory returns the Protocol."""
        if name not in self.names():
            raise LookupError(f"no contract named {name!r}")
        change: dict[str, Any] = {name: service}  # one field, checked by name just above
        return replace(self, **change)

    def runs(self, name: str) -> bool:
        """Whether calls to `name` can be answered (it is not a stand-in)."""
        return not isinstance(getattr(self, name), AbsentModule)

    def event_sources(self) -> dict[str, EventSource]:
        """Every running contract whose events can be replayed, by name."""
        found = {name: getattr(self, name) for name in self.names() if self.runs(name)}
        return {name: c for name, c in found.items() if isinstance(c, EventSource)}
