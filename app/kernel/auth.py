"""Bearer JWT auth for every `/v1` route (Litestar's `JWTAuth`), and the admin guard.

The signing secret comes from `BULKHEAD_JWT_SECRET`, or is generated once into the data
dir with mode 0600 (created with O_EXCL, so several workers starting together agree).
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from contracts.errors import Unavailable

from .settings import Settings

ALGORITHM = "HS256"
ISSUER = "bulkhead"
SECRET_FILE = "jwt-secret"
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


DEFAULT_CLIENT = "default"
REQUIRED_CLAIMS = ["exp", "sub"]


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: the token's subject, whether it carries the admin claim, and the
    client (the agent or app acting for the user; its `client` claim) it came through."""

    user_id: str
    is_admin: bool = False
    client_id: str = DEFAULT_CLIENT


def resolve_jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.data_dir / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise RuntimeError(f"{path} holds no usable secret; delete it to generate a new one")
    return secret


def create_token(
    secret: str,
    user_id: str,
    *,
    admin: bool = False,
    ttl: timedelta,
    client_id: str | None = None,
) -> str:
    for what, value in (("user id", user_id), ("client id", client_id or DEFAULT_CLIENT)):
        if not USER_ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"{what} {value!r} must be 1-128 characters of letters, digits, '.', '_', '@', '-'"
            )
    extras: dict[str, Any] = {"admin": True} if admin else {}
    if client_id is not None:
        extras["client"] = client_id
    token = Token(sub=user_id, exp=datetime.now(UTC) + ttl, iss=ISSUER, extras=extras)
    return token.encode(secret, ALGORITHM)


@runtime_checkable
class RevokesTokens(Protocol):
    """Where revoked tokens are kept (the saga store, beside user deletion)."""

    async def tokens_valid_after(self, *, user_id: str) -> datetime | None: ...


async def principal_from_token(
    token: Token, connection: ASGIConnection[Any, Any, Any, Any]
) -> Principal | None:
    """Litestar's JWT middleware hands over each decoded token here."""
    return await principal_of(token, connection.app.state.get("token_revocations"))


async def principal_of(token: Token, revocations: RevokesTokens | None) -> Principal | None:
    """Who a decoded, unexpired token speaks for; None for a malformed subject or client.
    Every way in (REST, MCP) asks this, so a revoked token is refused by all of them."""
    client = token.extras.get("client", DEFAULT_CLIENT)
    if not USER_ID_PATTERN.fullmatch(token.sub) or not (
        isinstance(client, str) and USER_ID_PATTERN.fullmatch(client)
    ):
        return None  # Litestar answers 401
    if revocations is not None:
        try:
            valid_after = await revocations.tokens_valid_after(user_id=token.sub)
        except Exception as exc:  # fail closed: an unchecked token is not let through
            raise Unavailable("revoked tokens cannot be checked right now; retry") from exc
        if valid_after is not None and token.iat <= valid_after:
            raise NotAuthorizedException(
                "this token was revoked (account deleted or tokens revoked by an admin); "
                "ask for a new one"
            )
    return Principal(
        user_id=token.sub, is_admin=token.extras.get("admin") is True, client_id=client
    )


def decode_token(encoded: str, secret: str) -> Token:
    """Verify a bearer token's signature, issuer and expiry the way `jwt_auth` does.
    Raises `NotAuthorizedException`."""
    return Token.decode(encoded, secret, ALGORITHM, issuer=[ISSUER], require_claims=REQUIRED_CLAIMS)


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Route guard: 403 unless the token carries the admin claim.

    OPTIONS requests carry no token (JWTAuth skips them, as CORS preflights need) and
    only list the allowed methods, so they pass.
    """
    if connection.scope.get("method") == "OPTIONS":
        return
    user = connection.scope.get("user")
    if not (isinstance(user, Principal) and user.is_admin):
        raise PermissionDeniedException("this route needs a token with the admin claim")


def jwt_auth(secret: str) -> JWTAuth[Principal, Token]:
    return JWTAuth[Principal, Token](
        retrieve_user_handler=principal_from_token,
        token_secret=secret,
        algorithm=ALGORITHM,
        # internal: service tokens only; mcp: the MCP SDK checks the same tokens itself;
        # console: a session of its own, opened by a one-time link
        exclude=["^/health", "^/schema", "^/internal/", "^/mcp", "^/console"],
        accepted_issuers=[ISSUER],
        require_claims=REQUIRED_CLAIMS,
    )
