"""The stand-in for a module that does not run in this process.

It has exactly the methods of the module's Protocol, and each raises `ModuleNotRunning`
(an `Unavailable`: sagas retry it, HTTP answers 503, composition shows an error part).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from .errors import Unavailable


class ModuleNotRunning(Unavailable):
    """The module is not served by this process (`BULKHEAD_MODULES`)."""


class AbsentModule:
    def __init__(self, module: str, protocol: type) -> None:
        self.module = module
        self._methods = frozenset(
            name
            for name in dir(protocol)
            if not name.startswith("_") and callable(getattr(protocol, name))
        )

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(f"the {self.module} contract has no method {name!r}")

        async def not_running(*_: object, **__: object) -> NoReturn:
            raise ModuleNotRunning(
                f"the {self.module} module is not enabled here", details={"module": self.module}
            )

        return not_running

    def __repr__(self) -> str:
        return f"<{self.module}: not running here>"
