"""Keyset pagination shared by every listing contract."""

from __future__ import annotations

from .errors import MalformedRequest

DEFAULT_PAGE_LIMIT = 50


class InvalidCursor(MalformedRequest):
    """The cursor was not produced by this listing (or was altered)."""
