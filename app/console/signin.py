"""Signing in to the console: a one-time link from `bulkhead console`, then a short
session in an encrypted, HttpOnly, SameSite=Strict cookie.

The link is a JWT for an admin with `purpose: console` and an id; it works once (the
saga store keeps the ids used, beside revoked tokens) and for minutes. An API token,
even an admin's, is not a link: it lives long and can be used again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import Token

from app.kernel.auth import ALGORITHM, ISSUER, RevokesTokens, decode_token, principal_of
from contracts.errors import ContractError
from contracts.sagas import SagaAdminAPI

PURPOSE = "console"
LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(minutes=30)


class SigninRefused(Exception):
    """The link cannot sign anyone in; `status` and the text say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def signin_link(secret: str, base_url: str, user_id: str, ttl: timedelta = LINK_TTL) -> str:
    token = Token(
        sub=user_id,
        exp=datetime.now(UTC) + ttl,
        iss=ISSUER,
        jti=uuid.uuid4().hex,
        extras={"admin": True, "purpose": PURPOSE},
    )
    return f"{base_url.rstrip('/')}/console/signin?token={token.encode(secret, ALGORITHM)}"


async def redeem(
    encoded: str, secret: str, store: SagaAdminAPI, revocations: RevokesTokens | None
) -> str:
    """The admin the link signs in; raises `SigninRefused`."""
    try:
        token = decode_token(encoded, secret)
        principal = await principal_of(token, revocations)
    except NotAuthorizedException as exc:
        raise SigninRefused(401, "This link has expired or is not valid.") from exc
    except ContractError as exc:
        raise SigninRefused(503, "Sign-in cannot be checked right now; try again.") from exc
    link_id = token.jti
    if principal is None or token.extras.get("purpose") != PURPOSE or not isinstance(link_id, str):
        raise SigninRefused(401, "This is not a console sign-in link.")
    if not principal.is_admin:
        raise SigninRefused(403, "The console is for admins; this link is not an admin's.")
    claimed = await store.claim_signin_link(link_id=link_id, expires_at=token.exp)
    if not claimed:
        raise SigninRefused(401, "This link was used already; each works once.")
    return principal.user_id
