"""A contract's RPC schema, derived from its Protocol: per method, a msgspec Struct of its
keyword arguments (names, types, defaults) and the type of its result."""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any, get_type_hints

import msgspec


@dataclass(frozen=True)
class RpcMethod:
    name: str
    arguments: type[msgspec.Struct]  # the keyword arguments, as sent
    result: Any  # the return annotation, as decoded


@cache
def rpc_methods(protocol: type) -> dict[str, RpcMethod]:
    """Every public async method of the Protocol (its base Protocols' too)."""
    methods: dict[str, RpcMethod] = {}
    for name in sorted(dir(protocol)):
        function = getattr(protocol, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(function):
            continue
        hints = get_type_hints(function)
        fields: list[tuple[str, Any, Any] | tuple[str, Any]] = []
        for parameter in list(inspect.signature(function).parameters.values())[1:]:
            kind = hints[parameter.name]
            if parameter.default is inspect.Parameter.empty:
                fields.append((parameter.name, kind))
            else:
                fields.append((parameter.name, kind, parameter.default))
        arguments = msgspec.defstruct(
            f"{protocol.__name__}.{name}", fields, kw_only=True, forbid_unknown_fields=True
        )
        methods[name] = RpcMethod(name, arguments, hints.get("return"))
    return methods


@cache
def fingerprint(protocol: type) -> str:
    """A digest of every method's argument and result schemas: both sides of a call must
    agree on it (`bulkhead check` compares, and the client sends it with each call)."""
    schema = {
        name: {
            "arguments": msgspec.json.schema(method.arguments),
            "result": msgspec.json.schema(method.result),
        }
        for name, method in rpc_methods(protocol).items()
    }
    return hashlib.sha256(msgspec.json.encode(schema, order="sorted")).hexdigest()[:16]
