"""The operator's console at `/console`: one server-rendered page of the system at a
glance (modules, activity, sagas, dead letters, deletions), for admins signed in by a
one-time link from `bulkhead console`. Everything it loads is served from here."""

from __future__ import annotations

from .routes import PATH, TEMPLATES, console_router
from .signin import signin_link

__all__ = ["PATH", "TEMPLATES", "console_router", "signin_link"]
