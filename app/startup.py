"""How a process starts: the `bulkhead` command, and each server worker's app.

Importing the application makes a few hundred thousand objects that live as long as the
process (modules, classes, SQLAlchemy's tables, Litestar's routes, pydantic's models).
CPython's cycle collector walks them again and again while they are made, and once more
at exit: 0.6-0.9 s of a 1.8-2.1 s `bulkhead token create` on a 2-core machine. So the
imports run with the collector paused, and what they made is then frozen (`gc.freeze`):
left out of every later collection, exit's included. Cycles made afterwards, by
requests, are collected as before. A server worker's app, once built, is frozen too.
"""

from __future__ import annotations

import gc
import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by `_imported`, with the collector paused
    from litestar import Litestar


def main() -> None:
    """The `bulkhead` command."""
    _imported("app.cli").main()


def create_app() -> Litestar:
    """The app a server worker runs (`bulkhead serve` hands uvicorn this factory)."""
    app: Litestar = _imported("app.main").create_app()
    gc.freeze()
    return app


def _imported(name: str) -> ModuleType:
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()
