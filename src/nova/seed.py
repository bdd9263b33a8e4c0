"""Synthetic social data for a fresh Nova: users, a power-law follow graph, posts, likes.

``nova seed`` loads it with COPY (tens of thousands of rows per second) so a newcomer has a
populated feed in seconds. Every seeded user's password is :data:`SEED_PASSWORD` (hashed once
with argon2id, since hashing per user would take minutes by design). The data is
deterministic for a given ``--seed``. Counters (followers, following, posts, likes) are
computed from the generated rows, so they are exact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections import Counter
from typing import TYPE_CHECKING

from argon2 import PasswordHasher

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

__all__ = ["SEED_PASSWORD", "WORDS", "SeedPlan", "SeedReport", "seed"]

#: Password of every seeded user (development data only).
SEED_PASSWORD = "nova-seed-password"  # noqa: S105  # documented development credential

#: Words synthetic post bodies are made of (``nova seed`` and ``nova bench seed``).
WORDS = [
    "coffee",
    "morning",
    "launch",
    "release",
    "garden",
    "river",
    "city",
    "music",
    "night",
    "design",
    "code",
    "rain",
    "weekend",
    "travel",
    "book",
    "film",
    "idea",
    "team",
    "ship",
    "bug",
    "fix",
    "cat",
    "dog",
    "photo",
    "walk",
    "sunset",
]


@dataclasses.dataclass(frozen=True, slots=True)
class SeedPlan:
    """How much to generate.

    Attributes:
        users: Number of users.
        follows_per_user: Mean follows per user (power-law distributed over followees).
        posts_per_user: Mean posts per user.
        likes_per_post: Mean likes per post.
        seed: Random seed; the same plan and seed give the same data.
        tenant_id: Tenant the data belongs to.
    """

    users: int = 1_000
    follows_per_user: int = 20
    posts_per_user: int = 5
    likes_per_post: int = 3
    seed: int = 42
    tenant_id: str = "default"


@dataclasses.dataclass(frozen=True, slots=True)
class SeedReport:
    """Rows written per table."""

    users: int
    follows: int
    posts: int
    likes: int


def _uuid7(rng: random.Random, ms: int) -> uuid.UUID:
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64
    value |= 0b10 << 62 | rng.getrandbits(62)
    return uuid.UUID(int=value)


def _follow_graph(
    rng: random.Random, user_ids: list[uuid.UUID], per_user: int
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    # Zipf-like popularity: a few users attract most follows (and exceed the fan-out threshold
    # at larger scales), as on real networks.
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(user_ids))]
    follows: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for follower in user_ids:
        for followee in rng.choices(user_ids, weights=weights, k=per_user):
            if followee != follower:
                follows.add((follower, followee))
    return follows


def _posts(
    rng: random.Random, user_ids: list[uuid.UUID], per_user: int, *, start_ms: int, span_ms: int
) -> list[tuple[uuid.UUID, uuid.UUID, str, dt.datetime]]:
    posts = []
    for author in user_ids:
        for _ in range(rng.randint(0, per_user * 2)):
            ms = start_ms + rng.randrange(span_ms)
            body = " ".join(rng.choices(WORDS, k=rng.randint(3, 20)))
            created = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
            posts.append((_uuid7(rng, ms), author, body, created))
    return posts


async def seed(
    conn: asyncpg.Connection,
    plan: SeedPlan,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> SeedReport:
    """Generate and COPY the data described by ``plan`` in one transaction.

    Args:
        conn: A connection to a migrated database (not in a transaction).
        plan: What to generate.
        progress: Called with (table, rows) after each table is loaded.
    """
    rng = random.Random(plan.seed)  # noqa: S311  # synthetic data, not security
    now = dt.datetime.now(dt.UTC)
    start_ms = int((now - dt.timedelta(days=7)).timestamp() * 1000)
    span_ms = 7 * 86_400_000
    password_hash = PasswordHasher(memory_cost=19_456, time_cost=2, parallelism=1).hash(
        SEED_PASSWORD
    )
    base = await conn.fetchval("SELECT count(*) FROM users WHERE tenant_id = $1", plan.tenant_id)

    user_ids = [_uuid7(rng, start_ms + i) for i in range(plan.users)]
    follows = _follow_graph(rng, user_ids, plan.follows_per_user)
    followers = Counter(b for _, b in follows)
    following = Counter(a for a, _ in follows)
    posts = _posts(rng, user_ids, plan.posts_per_user, start_ms=start_ms, span_ms=span_ms)
    post_count = Counter(author for _, author, _, _ in posts)
    likes: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for post_id, _, _, _ in posts:
        k = min(plan.users, rng.randint(0, plan.likes_per_post * 2))
        likes.update((post_id, liker) for liker in rng.sample(user_ids, k=k))
    like_count = Counter(post_id for post_id, _ in likes)

    def report(table: str, rows: int) -> None:
        if progress is not None:
            progress(table, rows)

    async with conn.transaction():
        await conn.copy_records_to_table(
            "users",
            columns=[
                "id",
                "tenant_id",
                "username",
                "email",
                "password_hash",
                "display_name",
                "follower_count",
                "following_count",
                "post_count",
                "last_active_at",
            ],
            records=[
                (
                    uid,
                    plan.tenant_id,
                    f"user{base + i}",
                    f"user{base + i}@example.invalid",
                    password_hash,
                    f"User {base + i}",
                    followers[uid],
                    following[uid],
                    post_count[uid],
                    now,
                )
                for i, uid in enumerate(user_ids)
            ],
        )
        report("users", len(user_ids))
        await conn.copy_records_to_table(
            "follows",
            columns=["tenant_id", "follower_id", "followee_id", "created_at"],
            records=[(plan.tenant_id, a, b, now) for a, b in follows],
        )
        report("follows", len(follows))
        await conn.copy_records_to_table(
            "posts",
            columns=[
                "id",
                "tenant_id",
                "author_id",
                "body",
                "visibility",
                "like_count",
                "created_at",
            ],
            records=[
                (pid, plan.tenant_id, author, body, "public", like_count.get(pid, 0), created)
                for pid, author, body, created in posts
            ],
        )
        report("posts", len(posts))
        await conn.copy_records_to_table(
            "likes",
            columns=["tenant_id", "post_id", "user_id", "created_at"],
            records=[(plan.tenant_id, p, u, now) for p, u in likes],
        )
        report("likes", len(likes))
    await conn.execute("ANALYZE users, follows, posts, likes")
    return SeedReport(users=len(user_ids), follows=len(follows), posts=len(posts), likes=len(likes))
