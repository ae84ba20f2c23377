"""Enforce a DTO's declared constraints on in-process calls too.

msgspec checks `Meta(ge=..., min_length=...)` only when decoding; Litestar decodes HTTP
bodies, but a module calling a contract in-process hands over a constructed Struct.
Re-converting it applies the same constraints, so both paths reject the same input.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from contracts.errors import InvalidInput

T = TypeVar("T")


def validated(value: T) -> T:
    builtins = msgspec.to_builtins(value)
    if (path := nul_path(builtins)) is not None:
        # PostgreSQL text cannot hold NUL; refusing it everywhere keeps the backends alike.
        raise InvalidInput(
            f"{path or 'the value'} contains a NUL character (\\u0000), which cannot be stored",
            field=path or None,
        )
    try:
        return msgspec.convert(builtins, type(value))
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = message.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in message else None
        raise InvalidInput(message, field=field) from exc


def nul_path(value: object, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return inner
            if (found := nul_path(item, inner)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := nul_path(item, f"{path}[{index}]")) is not None:
                return found
    return None


MAX_METADATA_BYTES = 16_384


def check_metadata_size(metadata: object, *, field: str = "metadata") -> None:
    """Free-form metadata stays small: `InvalidInput` past MAX_METADATA_BYTES of JSON."""
    if len(msgspec.json.encode(metadata)) > MAX_METADATA_BYTES:
        raise InvalidInput(f"{field} exceeds {MAX_METADATA_BYTES} bytes of JSON", field=field)
