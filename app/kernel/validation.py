"""Enforce a DTO's declared constraints on in-process calls too.

msgspec checks `Meta(ge=..., min_length=...)` only when decoding; Litestar decodes HTTP
bodies, but a module calling a contract in-process hands over a constructed Struct.
Re-converting it applies the same constraints, so both paths reject the same input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from contracts.errors import InvalidInput

T = TypeVar("T")


_INT64 = 2**63


def storable(value: T) -> T:
    """`value`, if every database here can store it: a datetime with a zone that is still
    a datetime in UTC, an integer of 64 bits. Raises ValueError (or OverflowError) if not."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone")
        value.astimezone(UTC)  # 0001-01-01T00:00+14:00 is before year 1 in UTC
    elif isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise ValueError(f"{value} does not fit in 64 bits")
    return value


def out_of_range_path(value: object, path: str = "") -> str | None:
    """The dotted path of the first datetime or integer no database here can store."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = out_of_range_path(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := out_of_range_path(item, f"{path}[{index}]")) is not None:
                return found
        return None
    try:
        storable(value)
    except (ValueError, OverflowError):
        return path
    return None


def validated(value: T) -> T:
    if (
        path := out_of_range_path(msgspec.to_builtins(value, builtin_types=(datetime,)))
    ) is not None:
        raise InvalidInput(
            f"{path or 'the value'} is out of range: times must be UTC-representable "
            "(years 1 to 9999) and integers within 64 bits",
            field=path or None,
        )
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
