"""The REST API's bearer tokens, checked for the MCP endpoint through the SDK's own
bearer middleware (so a missing or bad token gets MCP's 401 with `WWW-Authenticate`)."""

from __future__ import annotations

import logging

from litestar.exceptions import NotAuthorizedException
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier

from app.kernel.auth import ISSUER, Principal, RevokesTokens, decode_token, principal_of
from contracts.errors import Unavailable

logger = logging.getLogger("bulkhead.mcp")


class BulkheadTokens(TokenVerifier):
    """Verifies a token exactly as `/v1` does: signature, issuer, expiry, subject and
    client, and whether it was revoked since it was issued."""

    def __init__(self, secret: str, revocations: RevokesTokens | None) -> None:
        self._secret = secret
        self._revocations = revocations

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            decoded = decode_token(token, self._secret)
            principal = await principal_of(decoded, self._revocations)
        except NotAuthorizedException:
            return None  # bad signature, expired, or revoked
        except Unavailable:
            # Fail closed. The SDK turns None into 401; the log says the real reason.
            logger.warning("an MCP token was refused: revoked tokens cannot be checked now")
            return None
        if principal is None:
            return None
        return AccessToken(
            token=token,
            client_id=principal.client_id,
            scopes=["admin"] if principal.is_admin else [],
            expires_at=int(decoded.exp.timestamp()),
            subject=principal.user_id,
            claims={"iss": ISSUER},
        )


def current_principal() -> Principal:
    """The caller of the MCP request being handled (its token was verified on the way in)."""
    token = get_access_token()
    if token is None or token.subject is None:
        raise RuntimeError("an MCP handler ran without an authenticated caller")
    return Principal(
        user_id=token.subject, is_admin="admin" in token.scopes, client_id=token.client_id
    )
