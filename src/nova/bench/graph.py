"""The benchmark's synthetic social graph, generated with numpy and loaded by COPY.

It extends :mod:`nova.seed` (same password, same report, same tables) to the sizes a load
test needs: at ``scale=1`` about 10,000 users, 500,000 follows, 200,000 posts and 1,000,000
likes. Follower counts follow a Zipf-like law (popularity ``rank ** -1.1``), so a few dozen
authors have more followers than the benchmark's fan-out threshold (:func:`bench_threshold`)
and are pulled at read time. Rows are drawn as integer arrays (a million likes in well under a
second) and streamed to PostgreSQL as CSV with ``COPY``. The same ``seed`` gives the same graph.

Users are named ``bench0`` .. ``bench{n-1}`` with :data:`nova.seed.SEED_PASSWORD`. Timelines
are *not* precomputed: the first home-feed read of each user rebuilds it from PostgreSQL, and
``nova bench run`` reads every pooled user's feed once during warm-up, before measuring.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid
from typing import TYPE_CHECKING

import numpy as np
from argon2 import PasswordHasher
from numpy.typing import NDArray

from nova import seed as seeding

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

__all__ = ["Graph", "GraphPlan", "bench_threshold", "generate", "load"]

# The same vocabulary as `nova seed`, as an array for vectorized sampling.
_WORDS = np.array(seeding.WORDS)
#: Milliseconds of history the posts spread over (a week).
_SPAN_MS = 7 * 86_400_000


@dataclasses.dataclass(frozen=True, slots=True)
class GraphPlan:
    """Sizes of the graph; ``scale`` multiplies every default.

    Example:
        >>> GraphPlan.scaled(0.1).users
        1000
    """

    users: int = 10_000
    follows: int = 500_000
    posts: int = 200_000
    likes: int = 1_000_000
    seed: int = 42
    tenant_id: str = "default"

    @classmethod
    def scaled(cls, scale: float, *, seed: int = 42, tenant_id: str = "default") -> GraphPlan:
        """The default plan times ``scale`` (at least 10 users)."""
        return cls(
            users=max(10, round(10_000 * scale)),
            follows=round(500_000 * scale),
            posts=round(200_000 * scale),
            likes=round(1_000_000 * scale),
            seed=seed,
            tenant_id=tenant_id,
        )


def bench_threshold(users: int) -> int:
    """The fan-out threshold the benchmark runs Nova with: a tenth of the users.

    The production default (10,000) is above any follower count a 10,000-user graph can have;
    scaling it keeps "a few authors above the threshold" true at every ``--scale``.
    """
    return max(10, users // 10)


@dataclasses.dataclass(frozen=True, slots=True)
class Graph:
    """Generated rows as index arrays into ``user_ids`` / ``post_ids``."""

    user_ids: list[uuid.UUID]
    follower: NDArray[np.int64]
    followee: NDArray[np.int64]
    post_ids: list[uuid.UUID]
    post_author: NDArray[np.int64]
    post_ms: NDArray[np.int64]
    post_body: list[str]
    like_post: NDArray[np.int64]
    like_user: NDArray[np.int64]


def _uuid7s(rng: np.random.Generator, ms: NDArray[np.int64]) -> list[uuid.UUID]:
    rand_a = rng.integers(0, 1 << 12, size=len(ms)).tolist()
    rand_b = rng.integers(0, 1 << 62, size=len(ms), dtype=np.int64).tolist()
    return [
        uuid.UUID(int=(m << 80) | (0x7 << 76) | (a << 64) | (0b10 << 62) | b)
        for m, a, b in zip(ms.tolist(), rand_a, rand_b, strict=True)
    ]


def _unique_pairs(
    draw: Callable[[int], tuple[NDArray[np.int64], NDArray[np.int64]]],
    *,
    width: int,
    want: int,
    no_loops: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Up to ``want`` distinct (left, right) pairs in draw order, drawing more while short.

    Popular targets saturate (everyone already follows them), so duplicates are common; each
    round draws twice as many. ``no_loops`` drops left == right (self-follows).
    """
    left = right = np.zeros(0, dtype=np.int64)
    first = np.zeros(0, dtype=np.intp)
    size = int(want * 1.7) + 16
    for _ in range(6):
        more_left, more_right = draw(size)
        left, right = np.concatenate((left, more_left)), np.concatenate((right, more_right))
        _, first = np.unique(left * width + right, return_index=True)
        first.sort()
        if no_loops:
            first = first[left[first] != right[first]]
        if len(first) >= want:
            break
        size *= 2
    keep = first[:want]
    return left[keep], right[keep]


def _zipf(n: int, exponent: float) -> NDArray[np.float64]:
    weights: NDArray[np.float64] = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    normalized: NDArray[np.float64] = weights / weights.sum()
    return normalized


def generate(plan: GraphPlan, *, start_ms: int) -> Graph:
    """Draw the graph of ``plan`` (deterministic for ``plan.seed``)."""
    rng = np.random.default_rng(plan.seed)
    n = plan.users
    user_ids = _uuid7s(rng, np.arange(n, dtype=np.int64) + start_ms)
    follower, followee = _unique_pairs(
        lambda k: (
            rng.integers(0, n, size=k, dtype=np.int64),
            rng.choice(n, size=k, p=_zipf(n, 1.1)).astype(np.int64),
        ),
        width=n,
        want=plan.follows,
        no_loops=True,
    )

    # Active authors post more (a milder power law, ranked independently of popularity).
    post_author = rng.permutation(n)[rng.choice(n, size=plan.posts, p=_zipf(n, 0.5))]
    post_ms = np.sort(rng.integers(start_ms, start_ms + _SPAN_MS, size=plan.posts))
    post_ids = _uuid7s(rng, post_ms)
    lengths = rng.integers(3, 21, size=plan.posts)
    words = _WORDS[rng.integers(0, len(_WORDS), size=int(lengths.sum()))].tolist()
    bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
    post_body = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(plan.posts)]

    post_rank = rng.permutation(max(1, plan.posts))
    like_p = _zipf(max(1, plan.posts), 0.8)
    like_post, like_user = _unique_pairs(
        lambda k: (
            post_rank[rng.choice(len(like_p), size=k, p=like_p)].astype(np.int64),
            rng.integers(0, n, size=k, dtype=np.int64),
        ),
        width=n,
        want=plan.likes if plan.posts else 0,
        no_loops=False,
    )
    return Graph(
        user_ids=user_ids,
        follower=follower,
        followee=followee,
        post_ids=post_ids,
        post_author=post_author.astype(np.int64),
        post_ms=post_ms,
        post_body=post_body,
        like_post=like_post.astype(np.int64),
        like_user=like_user.astype(np.int64),
    )


async def _copy_csv(
    conn: asyncpg.Connection, table: str, columns: list[str], lines: list[str]
) -> None:
    data = io.BytesIO(("\n".join(lines) + "\n").encode() if lines else b"")
    await conn.copy_to_table(table, source=data, columns=columns, format="csv")


async def load(
    conn: asyncpg.Connection,
    graph: Graph,
    *,
    tenant_id: str,
    progress: Callable[[str, int], None] | None = None,
) -> seeding.SeedReport:
    """COPY ``graph`` into a migrated database in one transaction, with exact counters.

    Args:
        conn: A connection, not in a transaction.
        graph: From :func:`generate`.
        tenant_id: Tenant of every row.
        progress: Called with (table, rows) after each table.

    Raises:
        ValueError: the database already holds benchmark users (seed a fresh one).
    """
    if await conn.fetchval("SELECT 1 FROM users WHERE username = 'bench0'"):
        raise ValueError("this database already holds the benchmark graph; use a fresh one")
    n = len(graph.user_ids)
    now = dt.datetime.now(dt.UTC).isoformat()
    followers = np.bincount(graph.followee, minlength=n).tolist()
    following = np.bincount(graph.follower, minlength=n).tolist()
    posts_of = np.bincount(graph.post_author, minlength=n).tolist()
    likes_of = np.bincount(graph.like_post, minlength=len(graph.post_ids)).tolist()
    hashed = PasswordHasher(memory_cost=19_456, time_cost=2, parallelism=1).hash(
        seeding.SEED_PASSWORD
    )
    uid = [str(u) for u in graph.user_ids]
    pid = [str(p) for p in graph.post_ids]
    t = tenant_id

    def done(table: str, rows: int) -> None:
        if progress is not None:
            progress(table, rows)

    async with conn.transaction():
        await _copy_csv(
            conn,
            "users",
            [
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
            [
                f'{u},{t},bench{i},bench{i}@example.invalid,"{hashed}",Bench {i},'
                f"{followers[i]},{following[i]},{posts_of[i]},{now}"
                for i, u in enumerate(uid)
            ],
        )
        done("users", n)
        await _copy_csv(
            conn,
            "follows",
            ["tenant_id", "follower_id", "followee_id", "created_at"],
            [
                f"{t},{uid[a]},{uid[b]},{now}"
                for a, b in zip(graph.follower.tolist(), graph.followee.tolist(), strict=True)
            ],
        )
        done("follows", len(graph.follower))
        created = [
            dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()
            for ms in graph.post_ms.tolist()
        ]
        await _copy_csv(
            conn,
            "posts",
            ["id", "tenant_id", "author_id", "body", "visibility", "like_count", "created_at"],
            [
                f"{pid[i]},{t},{uid[a]},{graph.post_body[i]},public,{likes_of[i]},{created[i]}"
                for i, a in enumerate(graph.post_author.tolist())
            ],
        )
        done("posts", len(pid))
        await _copy_csv(
            conn,
            "likes",
            ["tenant_id", "post_id", "user_id", "created_at"],
            [
                f"{t},{pid[p]},{uid[u]},{now}"
                for p, u in zip(graph.like_post.tolist(), graph.like_user.tolist(), strict=True)
            ],
        )
        done("likes", len(graph.like_post))
    await conn.execute("ANALYZE users, follows, posts, likes")
    return seeding.SeedReport(
        users=n, follows=len(graph.follower), posts=len(pid), likes=len(graph.like_post)
    )
