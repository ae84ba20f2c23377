"""Errors that may cross a module boundary.

Each is one of a few kinds; the kernel maps each kind to exactly one HTTP status, and a
module declares its own errors as subclasses (`SessionNotFound(NotFound)`). Errors carry
only plain data, so they survive the trip over RPC once modules are split.
"""

from __future__ import annotations


class ContractError(Exception):
    """Base of every error a contract method may raise."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, str | int | float] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the input that is wrong, where one is
        self.details = details or {}  # structured facts a client can act on
        self.retry_after_s = retry_after_s  # when trying again may succeed

    @property
    def code(self) -> str:
        return type(self).__name__


class MalformedRequest(ContractError):
    """The request cannot be parsed (a broken cursor, a bad range): 400."""


class InvalidInput(ContractError):
    """The request parses but a value is not acceptable: 422."""


class PermissionDenied(ContractError):
    """The caller is known but not allowed to do this: 403."""


class NotFound(ContractError):
    """No such resource visible to the caller (another user's is not found either): 404."""


class Conflict(ContractError):
    """The resource's state does not allow this (a closed session): 409."""


class LimitExceeded(ContractError):
    """A quota or rate limit says no; nothing was recorded: 429."""


class Unavailable(ContractError):
    """A dependency is down; the call may succeed if retried later: 503."""
