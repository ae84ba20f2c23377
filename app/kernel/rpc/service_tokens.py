"""Service tokens: who may call a module's internal routes.

A process signs as its service (`BULKHEAD_SERVICE_NAME`) with its own Ed25519 key; the
receiver verifies with the caller's public key from the keys directory and accepts a token
only for its own module (`aud`), from a known service (`iss`), living at most five minutes,
whose caller runs a module the registry lets call this one (`mods`, signed with the rest).
A key created with the modules its service runs (`NAME.modules` beside `NAME.pub`, written
by the operator) caps what its tokens may claim: a stolen key cannot pose as the saga store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.errors import PermissionDenied

ALGORITHM = "EdDSA"
MAX_LIFETIME_S = 300
LIFETIME_S = 120  # a token is reused until a minute before it ends
SERVICE_NAME_PATTERN = r"[a-z][a-z0-9-]{0,62}"


class ServiceTokenRefused(PermissionDenied):
    """Not a valid service token for this module from a caller allowed to call it."""

    def __init__(self, message: str, *, unauthenticated: bool) -> None:
        super().__init__(message)
        self.unauthenticated = unauthenticated  # 401 (who are you?) rather than 403


def create_key_pair(
    keys_dir: Path, service: str, modules: Sequence[str] | None = None
) -> tuple[Path, Path]:
    """`NAME.key` (mode 0600, never overwritten) and `NAME.pub` in `keys_dir`; with
    `modules`, `NAME.modules`: the most its tokens may claim to run."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path, public_path = keys_dir / f"{service}.key", keys_dir / f"{service}.pub"
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    if modules is not None:
        (keys_dir / f"{service}.modules").write_text(",".join(sorted(modules)) + "\n")
    return private_path, public_path


class ServiceSigner:
    """Mints this process's tokens, one per audience, reused while fresh."""

    def __init__(self, keys_dir: Path, service: str, modules: Sequence[str]) -> None:
        path = keys_dir / f"{service}.key"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            raise FileNotFoundError(
                f"no signing key for service {service!r} at {path}: "
                f"run `bulkhead keys create --service {service}`"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        self._key = key
        self.service = service
        self._modules = sorted(modules)
        self._tokens: dict[str, tuple[str, float]] = {}

    def token(self, audience: str) -> str:
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is not None and cached[1] - now > 60:
            return cached[0]
        claims = {
            "iss": self.service,
            "aud": audience,
            "iat": int(now),
            "exp": int(now) + LIFETIME_S,
            "mods": self._modules,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        self._tokens[audience] = (token, now + LIFETIME_S)
        return token


class ServiceVerifier:
    """Checks tokens against the public keys in the keys directory, read when first used."""

    def __init__(self, keys_dir: Path, allowed_callers: Mapping[str, frozenset[str]]) -> None:
        self._keys_dir = keys_dir
        self._allowed = allowed_callers  # module -> the modules that may call it
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._accepted: dict[tuple[str, str], tuple[str, float]] = {}  # (token, module)

    def caller(self, authorization: str | None, module: str) -> str:
        """The calling service's name, or `ServiceTokenRefused` saying why not. A token
        accepted once is remembered until it expires: callers reuse theirs, and checking a
        signature on every call would cost more than the call."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ServiceTokenRefused("a service token is required", unauthenticated=True)
        token = authorization.removeprefix("Bearer ")
        remembered = self._accepted.get((token, module))
        if remembered is not None and remembered[1] > time.time():
            return remembered[0]
        caller, expires = self._verify(token, module)
        if len(self._accepted) >= 1024:
            self._accepted.clear()  # a few callers renewing every minute: rarely reached
        self._accepted[(token, module)] = (caller, expires)
        return caller

    def _verify(self, token: str, module: str) -> tuple[str, float]:
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise ServiceTokenRefused(f"not a token: {exc}", unauthenticated=True) from None
        if header.get("alg") != ALGORITHM or not isinstance(issuer, str):
            raise ServiceTokenRefused("not a service token", unauthenticated=True)
        key = self._public_key(issuer)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=module,
                issuer=issuer,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.InvalidAudienceError:
            raise ServiceTokenRefused(
                f"this token is for another module, not {module}", unauthenticated=False
            ) from None
        except jwt.PyJWTError as exc:
            raise ServiceTokenRefused(
                f"service token refused: {exc}", unauthenticated=True
            ) from None
        if claims["exp"] - claims["iat"] > MAX_LIFETIME_S:
            raise ServiceTokenRefused(
                f"service tokens live at most {MAX_LIFETIME_S}s", unauthenticated=True
            )
        runs = claims.get("mods")
        allowed = self._allowed.get(module, frozenset())
        if isinstance(runs, list) and (bound := self._bound_modules(issuer)) is not None:
            runs = [m for m in runs if m in bound]  # claims beyond its key's modules: ignored
        if not isinstance(runs, list) or not allowed.intersection(runs):
            raise ServiceTokenRefused(
                f"service {issuer!r} may not call the {module} module", unauthenticated=False
            )
        return issuer, float(claims["exp"])

    def _bound_modules(self, service: str) -> frozenset[str] | None:
        """The modules `service`'s key was created for; None when it was not bound."""
        path = self._keys_dir / f"{service}.modules"
        if not path.is_file():
            return None
        return frozenset(m.strip() for m in path.read_text().split(",") if m.strip())

    def _public_key(self, service: str) -> Ed25519PublicKey:
        if service not in self._keys:
            path = self._keys_dir / f"{service}.pub"
            if "/" in service or not path.is_file():
                raise ServiceTokenRefused(f"unknown service {service!r}", unauthenticated=True)
            key = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise ServiceTokenRefused(f"{service}'s key is not Ed25519", unauthenticated=True)
            self._keys[service] = key
        return self._keys[service]
