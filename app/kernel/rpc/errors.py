"""Contract errors over the wire: every declared one is raised on the caller's side as the
same class with the same fields; anything else is `Unavailable` there."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

import contracts
from contracts.errors import ContractError, Unavailable


@cache
def declared_errors() -> dict[str, type[ContractError]]:
    """Every `ContractError` subclass any contract declares, by class name."""
    for info in pkgutil.iter_modules(contracts.__path__):
        importlib.import_module(f"contracts.{info.name}")
    found: dict[str, type[ContractError]] = {}
    pending: list[type[ContractError]] = [ContractError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def error_from_body(status: int, body: Any) -> ContractError:
    """The error an RPC answer carries (the kernel's error body), as its own class."""
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        detail = body.get("detail") if isinstance(body, dict) else None
        return Unavailable(f"the remote module answered {status}: {detail or 'no contract error'}")
    cls = declared_errors().get(body["code"])
    message = str(body.get("detail", ""))
    if cls is None:
        return Unavailable(f"the remote module failed: {body['code']}: {message}")
    error = cls.__new__(cls)
    ContractError.__init__(
        error,
        message,
        field=body.get("field"),
        details=body.get("details") or {},
        retry_after_s=body.get("retry_after_s"),
    )
    return error
