"""Keyset pagination shared by every listing contract."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .errors import MalformedRequest

PageLimit = Annotated[int, msgspec.Meta(ge=1, le=200)]
DEFAULT_PAGE_LIMIT = 50


class InvalidCursor(MalformedRequest):
    """The cursor was not produced by this listing (or was altered)."""
