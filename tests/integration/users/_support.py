"""Helpers for the users integration tests: people with accounts, and database probes."""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any

from nova.platform.context import Actor
from nova.platform.ids import new_id
from nova.users import User, store

if TYPE_CHECKING:
    import uuid

    from nova.platform.db import Database
    from nova.users import UsersService

TENANT = "default"
PASSWORD = "correct horse battery staple"


@dataclasses.dataclass(frozen=True)
class Person:
    """A test user and the actor that acts as them."""

    user: User
    actor: Actor

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


class People:
    """Creates accounts quickly: rows are inserted with one precomputed password hash, so
    tests that are not about registration do not pay for argon2 on every user."""

    def __init__(self, users: UsersService, db: Database, password_hash: str) -> None:
        self.users = users
        self._db = db
        self._hash = password_hash
        self._seq = itertools.count()

    async def new(self, username: str | None = None, *, private: bool = False) -> Person:
        name = username or f"user_{next(self._seq)}"
        async with self._db.write() as conn:
            user = await store.accounts.insert_user(
                conn,
                user_id=new_id(),
                tenant_id=TENANT,
                username=name,
                email=f"{name}@example.com",
                password_hash=self._hash,
                display_name=name.title(),
            )
        person = Person(user=user, actor=Actor.user(user.id, tenant_id=TENANT))
        if private:
            updated = await self.users.update_profile(person.actor, is_private=True)
            person = Person(user=updated, actor=person.actor)
        return person

    async def many(self, count: int) -> list[Person]:
        return [await self.new() for _ in range(count)]


async def fetchval(db: Database, sql: str, *args: Any) -> Any:
    async with db.read() as conn:
        return await conn.fetchval(sql, *args)


async def outbox_types(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await conn.fetch("SELECT event_type FROM outbox ORDER BY seq")
    return [r["event_type"] for r in rows]


async def counters_match(db: Database) -> bool:
    """True when every user's follower/following counters equal COUNT(*) of follows."""
    mismatches = await fetchval(
        db,
        """
        SELECT count(*) FROM users u
        WHERE u.follower_count <> (SELECT count(*) FROM follows WHERE followee_id = u.id)
           OR u.following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)
        """,
    )
    return int(mismatches) == 0


async def counts(db: Database, user_id: uuid.UUID) -> tuple[int, int]:
    """``(follower_count, following_count)`` of a user."""
    async with db.read() as conn:
        row = await conn.fetchrow(
            "SELECT follower_count, following_count FROM users WHERE id = $1", user_id
        )
    assert row is not None
    return row["follower_count"], row["following_count"]
