"""Opaque keyset cursors: the sort key of the last row, base64url-encoded JSON.

The listing name is inside, so a cursor from one listing is refused by another.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from contracts.paging import InvalidCursor

from .validation import storable


def encode_cursor(listing: str, *key: Any) -> str:
    raw = msgspec.json.encode([listing, *key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(listing: str, cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """Return the key parts, converted to `types`; raise `InvalidCursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = msgspec.json.decode(raw)
        if not isinstance(parts, list) or len(parts) != len(types) + 1 or parts[0] != listing:
            raise ValueError(cursor)
        return tuple(
            storable(msgspec.convert(v, t, strict=False))
            for v, t in zip(parts[1:], types, strict=True)
        )
    except (
        ValueError,
        OverflowError,
        binascii.Error,
        msgspec.DecodeError,
        msgspec.ValidationError,
    ) as exc:
        raise InvalidCursor(
            "cursor is malformed; pass the next_cursor of the previous page", field="cursor"
        ) from exc
