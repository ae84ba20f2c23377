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
    try:
        return msgspec.convert(msgspec.to_builtins(value), type(value))
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = message.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in message else None
        raise InvalidInput(message, field=field) from exc


MAX_METADATA_BYTES = 16_384


def check_metadata_size(metadata: object, *, field: str = "metadata") -> None:
    """Free-form metadata stays small: `InvalidInput` past MAX_METADATA_BYTES of JSON."""
    if len(msgspec.json.encode(metadata)) > MAX_METADATA_BYTES:
        raise InvalidInput(f"{field} exceeds {MAX_METADATA_BYTES} bytes of JSON", field=field)
