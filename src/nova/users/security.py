"""Credentials: argon2id password hashes, JWT access tokens, opaque refresh tokens.

========================  =================================================================
secret                    how it is kept
========================  =================================================================
password                  argon2id, OWASP minimum or stronger (:class:`Argon2Params`)
access token              JWT HS256, ``iss aud sub exp iat jti tid``; verified with an explicit
                          algorithm list, so ``alg: none`` and algorithm swaps are refused
refresh token             256 random bits, shown once; only its SHA-256 is stored
========================  =================================================================

Hashing is CPU-bound (tens of milliseconds by design), so :class:`Passwords` runs it in a
worker thread: the event loop keeps serving other requests meanwhile.

Example:
    >>> tokens = AccessTokens(secret="x" * 32, issuer="nova", audience="nova-api", ttl=900)
    >>> claims = tokens.verify(tokens.issue(user_id=uuid.uuid4(), tenant_id="default"))
    >>> claims.tenant_id
    'default'
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any, Final

import argon2
import jwt

from nova.platform import errors
from nova.users.domain import AccessClaims

__all__ = [
    "OWASP_MIN_MEMORY_KIB",
    "OWASP_MIN_TIME_COST",
    "AccessTokens",
    "Argon2Params",
    "Passwords",
    "hash_refresh_token",
    "new_refresh_token",
]

_ALGORITHM: Final = "HS256"

#: OWASP Password Storage Cheat Sheet minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
OWASP_MIN_MEMORY_KIB: Final = 19_456
#: See :data:`OWASP_MIN_MEMORY_KIB`.
OWASP_MIN_TIME_COST: Final = 2


@dataclasses.dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters.

    Attributes:
        memory_cost: KiB of memory per hash.
        time_cost: Passes over that memory.
        parallelism: Lanes; 1 keeps a hash on one core so logins cannot starve the machine.
    """

    memory_cost: int = OWASP_MIN_MEMORY_KIB
    time_cost: int = OWASP_MIN_TIME_COST
    parallelism: int = 1

    def __post_init__(self) -> None:
        # Refuse weak settings at construction: a config typo must not silently weaken storage.
        if self.memory_cost < OWASP_MIN_MEMORY_KIB or self.time_cost < OWASP_MIN_TIME_COST:
            raise ValueError(
                "argon2id parameters are below the OWASP minimum (19456 KiB, 2 passes)"
            )
        if self.parallelism < 1:
            raise ValueError("argon2id parallelism must be at least 1")


class Passwords:
    """Hashes and verifies passwords with argon2id, off the event loop.

    Args:
        params: Cost parameters (the OWASP minimum by default).
    """

    def __init__(self, params: Argon2Params | None = None) -> None:
        self.params = params or Argon2Params()
        self._hasher = argon2.PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_cost,
            parallelism=self.params.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # Verified when the account does not exist, so "no such user" costs as much time as
        # "wrong password" and response timing does not reveal which usernames exist.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        """The PHC-encoded argon2id hash of ``password``."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, encoded: str | None, password: str) -> bool:
        """True when ``password`` matches ``encoded``; None verifies against a decoy (False)."""
        target = encoded if encoded is not None else self._decoy
        try:
            ok = await asyncio.to_thread(self._hasher.verify, target, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
        return bool(ok) and encoded is not None

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with weaker parameters than the current ones."""
        return self._hasher.check_needs_rehash(encoded)


class AccessTokens:
    """Issues and verifies HS256 JWT access tokens.

    Args:
        secret: Signing key (at least 32 bytes for HS256).
        issuer: ``iss`` claim written and required.
        audience: ``aud`` claim written and required.
        ttl: Lifetime in seconds.
        leeway: Clock skew tolerated between processes, in seconds.
    """

    def __init__(
        self, *, secret: str, issuer: str, audience: str, ttl: int, leeway: float = 5.0
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self.ttl = ttl
        self._leeway = leeway

    def issue(self, *, user_id: uuid.UUID, tenant_id: str, now: dt.datetime | None = None) -> str:
        """A signed access token for ``user_id`` of ``tenant_id``."""
        issued = now or dt.datetime.now(dt.UTC)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "tid": tenant_id,
            "jti": uuid.uuid4().hex,
            "iat": issued,
            "exp": issued + dt.timedelta(seconds=self.ttl),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        """Check signature, algorithm, issuer, audience and expiry; return the claims.

        Raises:
            errors.UnauthenticatedError: ``TOKEN_EXPIRED`` for an expired token, else
                ``UNAUTHENTICATED`` (forged, malformed, wrong audience or issuer).
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                # Explicit list: the token's own "alg" header is never trusted.
                algorithms=[_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "sub", "exp", "iat", "jti"]},
            )
            user_id = uuid.UUID(str(claims["sub"]))
            tenant_id = claims["tid"]
        except jwt.ExpiredSignatureError as exc:
            raise errors.UnauthenticatedError(
                "The access token has expired; refresh it or sign in again.",
                code=errors.ErrorCode.TOKEN_EXPIRED,
            ) from exc
        except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
            raise errors.UnauthenticatedError(
                "The access token is not valid; sign in again."
            ) from exc
        if not isinstance(tenant_id, str):
            raise errors.UnauthenticatedError("The access token is not valid; sign in again.")
        return AccessClaims(
            user_id=user_id,
            tenant_id=tenant_id,
            token_id=str(claims["jti"]),
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), tz=dt.UTC),
        )


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the SHA-256 digest to store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    """The stored form of a refresh token.

    A plain SHA-256 suffices (no salt, no stretching): the token carries 256 random bits, so
    there is nothing to brute-force, and a deterministic digest allows a unique-index lookup.
    """
    return hashlib.sha256(token.encode()).digest()
