"""Account use cases: register, login, token refresh and logout, access-token checks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from nova.platform import errors
from nova.platform.events import outbox
from nova.platform.ids import new_id
from nova.users import domain, events, security, store
from nova.users.service._base import ServiceBase

if TYPE_CHECKING:
    import uuid

    import asyncpg

    from nova.platform.context import Actor

_BAD_CREDENTIALS = "Wrong username, email or password."


class AccountUseCases(ServiceBase):
    """Registration and sessions."""

    async def register(
        self,
        actor: Actor,
        *,
        username: str,
        email: str,
        password: str,
        display_name: str | None = None,
    ) -> domain.User:
        """Create an account and emit ``UserRegistered`` in the same transaction.

        Example:
            >>> user = await users.register(actor, username="ada", email="ada@example.com",
            ...                              password="correct horse battery")  # doctest: +SKIP

        Raises:
            errors.InvalidInputError: a field breaks its rule (``field`` names it).
            errors.AlreadyExistsError: ``USERNAME_TAKEN`` or ``EMAIL_TAKEN``.
        """
        username = domain.check_username(username)
        email = domain.check_email(email)
        domain.check_password(password)
        name = domain.check_display_name(display_name or "")
        # Hash before opening the transaction: no connection or lock is held while argon2 runs.
        encoded = await self._passwords.hash(password)
        async with self._db.write() as conn:
            user = await store.accounts.insert_user(
                conn,
                user_id=new_id(),
                tenant_id=actor.tenant_id,
                username=username,
                email=email,
                password_hash=encoded,
                display_name=name,
            )
            await outbox.append(
                conn,
                events.user_event(
                    actor, "UserRegistered", user_id=user.id, payload={"username": username}
                ),
            )
        return user

    async def login(
        self, actor: Actor, *, username_or_email: str, password: str
    ) -> domain.TokenPair:
        """Check a password and open a session (a new refresh-token family).

        Raises:
            errors.UnauthenticatedError: ``INVALID_CREDENTIALS``, with the same message and
                about the same latency whether or not the account exists.
        """
        login = username_or_email.strip()
        credentials = None
        if login and len(password) <= 1024:
            credentials = await self._db.run_read(
                store.accounts.find_credentials, tenant_id=actor.tenant_id, login=login
            )
        stored = credentials.password_hash if credentials is not None else None
        if not await self._passwords.verify(stored, password) or credentials is None:
            raise errors.UnauthenticatedError(
                _BAD_CREDENTIALS, code=errors.ErrorCode.INVALID_CREDENTIALS
            )
        rehashed = None
        if self._passwords.needs_rehash(credentials.password_hash):
            rehashed = await self._passwords.hash(password)
        async with self._db.write() as conn:
            if rehashed is not None:
                await store.accounts.set_password_hash(
                    conn, user_id=credentials.user_id, encoded=rehashed
                )
            await store.accounts.touch_last_active(conn, user_id=credentials.user_id)
            pair, _ = await self._issue_pair(
                conn, tenant_id=actor.tenant_id, user_id=credentials.user_id, family_id=new_id()
            )
        return pair

    async def refresh(self, actor: Actor, *, refresh_token: str) -> domain.TokenPair:
        """Trade a refresh token for a new pair; the old token is spent.

        Using a token that was already spent (or logged out) is treated as theft: the whole
        family is revoked, so both the thief and the victim must sign in again.

        Raises:
            errors.UnauthenticatedError: ``TOKEN_REVOKED`` (spent or logged out),
                ``TOKEN_EXPIRED``, or ``UNAUTHENTICATED`` for an unknown token.
        """
        failure: errors.UnauthenticatedError | None = None
        async with self._db.write() as conn:
            row = await store.tokens.find_refresh_token_for_update(
                conn, token_hash=security.hash_refresh_token(refresh_token)
            )
            if row is None or row.tenant_id != actor.tenant_id:
                failure = errors.UnauthenticatedError(
                    "The refresh token is not valid; sign in again."
                )
            elif row.revoked_at is not None:
                # Raised after the block so the family revocation commits.
                await store.tokens.revoke_family(conn, family_id=row.family_id)
                failure = errors.UnauthenticatedError(
                    "The refresh token was already used or revoked; sign in again.",
                    code=errors.ErrorCode.TOKEN_REVOKED,
                )
            elif row.expires_at <= dt.datetime.now(dt.UTC):
                failure = errors.UnauthenticatedError(
                    "The session has expired; sign in again.", code=errors.ErrorCode.TOKEN_EXPIRED
                )
            else:
                pair, new_token_id = await self._issue_pair(
                    conn, tenant_id=row.tenant_id, user_id=row.user_id, family_id=row.family_id
                )
                await store.tokens.rotate_refresh_token(
                    conn, token_id=row.id, replaced_by=new_token_id
                )
                return pair
        raise failure

    async def logout(self, actor: Actor, *, refresh_token: str) -> None:
        """End the session of ``refresh_token``: revoke its whole family. Idempotent."""
        async with self._db.write() as conn:
            row = await store.tokens.find_refresh_token_for_update(
                conn, token_hash=security.hash_refresh_token(refresh_token)
            )
            if row is not None and row.tenant_id == actor.tenant_id:
                await store.tokens.revoke_family(conn, family_id=row.family_id)

    async def authenticate(self, actor: Actor, *, access_token: str) -> domain.AccessClaims:
        """Verify an access token (no database round trip) for the gateway.

        Example:
            >>> claims = await users.authenticate(anonymous, access_token=bearer)  # doctest: +SKIP
            >>> actor = Actor.user(claims.user_id, tenant_id=claims.tenant_id)    # doctest: +SKIP

        Raises:
            errors.UnauthenticatedError: ``TOKEN_EXPIRED``, or ``UNAUTHENTICATED`` when forged,
                malformed, for another audience, issuer or tenant.
        """
        claims = self._tokens.verify(access_token)
        if claims.tenant_id != actor.tenant_id:
            raise errors.UnauthenticatedError("The access token is not valid; sign in again.")
        return claims

    async def _issue_pair(
        self, conn: asyncpg.Connection, *, tenant_id: str, user_id: uuid.UUID, family_id: uuid.UUID
    ) -> tuple[domain.TokenPair, uuid.UUID]:
        """A new access token and a new refresh token in ``family_id``; also the token's row id."""
        token, digest = security.new_refresh_token()
        token_id = new_id()
        await store.tokens.insert_refresh_token(
            conn,
            token_id=token_id,
            tenant_id=tenant_id,
            user_id=user_id,
            family_id=family_id,
            token_hash=digest,
            ttl_seconds=self._settings.refresh_token_ttl,
        )
        access = self._tokens.issue(user_id=user_id, tenant_id=tenant_id)
        pair = domain.TokenPair(
            access_token=access, refresh_token=token, expires_in=self._tokens.ttl
        )
        return pair, token_id
