"""The parameter types every module's routes share, declared once."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import QueryParameter

from .auth import Principal

# A request that passed the JWT middleware: `request.user` is the caller.
AuthRequest = Request[Principal, Any, Any]
# Paging: at most 200 per page; the cursor is the previous page's `next_cursor`.
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]
