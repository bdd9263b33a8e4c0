"""Offline evaluation of the recommended feed on a synthetic log (``nova recs evaluate``).

The log (stdlib ``random``, seeded, so a run is repeatable) has structure a ranking can find:

* every user has a favourite and a second topic; authors mostly post in their favourite topic;
* users follow mostly people of their favourite topic and have three favourite authors;
* each like is *social* (a post a followee liked in the last day), *author* (a recent post of a
  favourite author) or *topical* (a recent or recently liked post of a preferred topic).

Time-based split: posts are published over the ``days`` before a cutoff ``T``; likes happen over
those days and the ``test_days`` after ``T``. Only what happened before ``T`` is written to the
analytics sink's ClickHouse tables (``engagement_events``, ``feed_candidates``); each user's likes
after ``T`` (their most recent ones) are held out. Nova ranks with the real candidate SQL
(:func:`~nova.recs.store.candidates_sql` at ``now = T``) and :func:`~nova.recs.domain.rank`, the
code :class:`~nova.recs.service.RecsService` runs; three baselines rank the same catalogue:
most recent posts of followed accounts, global popularity (most liked before ``T``) and recent
popularity (most liked in the trending window before ``T``). All exclude the viewer's own and
already-liked posts. Reported per method: precision@k,
recall@k (means over users with held-out likes), catalogue coverage and distinct authors per list.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import datetime as dt
import random
import uuid
from typing import TYPE_CHECKING

from nova.analytics_sink.sink import SCHEMA
from nova.recs.domain import Exclusions, Weights, rank
from nova.recs.store import CandidateQuery, candidates_sql, parse_candidates

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from nova.platform.analytics import ClickHouse

__all__ = [
    "METHODS",
    "EvalPlan",
    "MethodScore",
    "Ranking",
    "SyntheticLog",
    "evaluate",
    "format_table",
    "generate",
    "precision_at_k",
    "recall_at_k",
    "score_method",
]

DAY = 86_400.0
#: The cutoff of the split (fixed, so the data and the SQL text are the same on every run).
CUTOFF = dt.datetime(2026, 1, 8, tzinfo=dt.UTC)
#: Method names in report order.
METHODS = ("nova", "chronological_followed", "global_popularity", "popular_last_day")


@dataclasses.dataclass(frozen=True, slots=True)
class EvalPlan:
    """The size and shape of the synthetic log."""

    users: int = 300
    topics: int = 12
    posts_per_user: int = 8
    likes_per_user: int = 40
    follows_per_user: int = 15
    days: float = 6.0
    test_days: float = 1.0
    seed: int = 7
    k: int = 10

    @property
    def tenant_id(self) -> str:
        """The tenant the log is written under (one per seed and size: reruns are idempotent)."""
        return f"eval-{self.seed}-{self.users}"


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """A synthetic post; ``created`` is in seconds relative to the cutoff (negative)."""

    id: uuid.UUID
    author: int
    topic: int
    created: float


@dataclasses.dataclass(slots=True)
class SyntheticLog:
    """Users, follows, posts and likes (``(t, user, post index)``, time-ordered)."""

    plan: EvalPlan
    user_ids: list[uuid.UUID]
    follows: list[list[int]]
    posts: list[Post]
    likes: list[tuple[float, int, int]]

    def split(self) -> tuple[list[tuple[float, int, int]], list[tuple[float, int, int]]]:
        """Likes before the cutoff (training) and after it (held out)."""
        return [x for x in self.likes if x[0] < 0], [x for x in self.likes if x[0] >= 0]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def generate(plan: EvalPlan) -> SyntheticLog:  # noqa: C901  # one readable simulation
    """Draw the synthetic log of ``plan`` (deterministic for a seed)."""
    rng = random.Random(plan.seed)  # noqa: S311  # synthetic data, not security
    n, horizon, fresh = plan.users, plan.days * DAY, 2 * DAY
    user_ids = [_uuid(rng) for _ in range(n)]
    favourite = [rng.randrange(plan.topics) for _ in range(n)]
    second = [(f + 1 + rng.randrange(plan.topics - 1)) % plan.topics for f in favourite]
    by_topic: dict[int, list[int]] = collections.defaultdict(list)
    for u, f in enumerate(favourite):
        by_topic[f].append(u)
    follows: list[list[int]] = []
    for u in range(n):
        chosen: list[int] = []
        peers = [v for v in by_topic[favourite[u]] if v != u]
        while len(chosen) < min(plan.follows_per_user, n - 1):
            pool = peers if peers and rng.random() < 0.7 else range(n)
            v = rng.choice(pool)
            if v != u and v not in chosen:
                chosen.append(v)
        follows.append(chosen)
    fav_authors = [f[:3] for f in follows]

    posts = sorted(
        (
            Post(
                id=_uuid(rng),
                author=a,
                topic=favourite[a] if rng.random() < 0.8 else rng.randrange(plan.topics),
                created=-horizon * rng.random(),
            )
            for a in range(n)
            for _ in range(plan.posts_per_user)
        ),
        key=lambda p: p.created,
    )
    topic_posts: dict[int, list[int]] = collections.defaultdict(list)
    author_posts: dict[int, list[int]] = collections.defaultdict(list)
    for i, p in enumerate(posts):
        topic_posts[p.topic].append(i)
        author_posts[p.author].append(i)

    def recent(indexes: list[int], t: float) -> list[int]:
        """Posts of ``indexes`` published in the two days before ``t`` (and before the cutoff)."""
        times = [posts[i].created for i in indexes]
        end = min(t, 0.0)
        return indexes[bisect.bisect_left(times, end - fresh) : bisect.bisect_left(times, end)]

    slots = sorted(
        (-horizon + (horizon + plan.test_days * DAY) * rng.random(), u)
        for u in range(n)
        for _ in range(plan.likes_per_user)
    )
    user_likes: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    topic_likes: dict[int, list[tuple[float, int]]] = collections.defaultdict(list)
    liked: list[set[int]] = [set() for _ in range(n)]
    likes: list[tuple[float, int, int]] = []
    for t, u in slots:
        for _attempt in range(3):
            mode = rng.random()
            pick: int | None = None
            if mode < 0.35:  # social: what a followee liked in the last day
                seen = [i for s, i in user_likes[rng.choice(follows[u])] if s >= t - DAY]
                pick = rng.choice(seen) if seen else None
            elif mode < 0.55:  # a favourite author's recent post
                mine = recent(author_posts[rng.choice(fav_authors[u])], t)
                pick = mine[-1] if mine else None
            else:  # topical: popular in the topic over the last day, or simply recent
                r = rng.random()
                topic = (
                    favourite[u]
                    if r < 0.6
                    else second[u]
                    if r < 0.85
                    else rng.randrange(plan.topics)
                )
                hot = [i for s, i in topic_likes[topic][-200:] if s >= t - DAY]
                fresh_posts = recent(topic_posts[topic], t)
                if hot and rng.random() < 0.5:
                    pick = rng.choice(hot)
                elif fresh_posts:
                    pick = rng.choice(fresh_posts)
            if pick is not None and pick not in liked[u] and posts[pick].author != u:
                liked[u].add(pick)
                user_likes[u].append((t, pick))
                topic_likes[posts[pick].topic].append((t, pick))
                likes.append((t, u, pick))
                break
    return SyntheticLog(plan=plan, user_ids=user_ids, follows=follows, posts=posts, likes=likes)


def _ts(offset: float) -> str:
    return (CUTOFF + dt.timedelta(seconds=offset)).strftime("%Y-%m-%d %H:%M:%S.%f")


async def load(ch: ClickHouse, log: SyntheticLog) -> None:
    """Create the sink's tables if missing and write what happened before the cutoff."""
    for ddl in SCHEMA:
        await ch.command(ddl)
    rng = random.Random(log.plan.seed + 1)  # noqa: S311  # event ids only
    tenant, users = log.plan.tenant_id, log.user_ids
    train, _ = log.split()
    events = [
        {
            "event_id": str(_uuid(rng)),
            "tenant_id": tenant,
            "event_type": "PostPublished",
            "post_id": str(p.id),
            "user_id": str(users[p.author]),
            "author_id": str(users[p.author]),
            "occurred_at": _ts(p.created),
        }
        for p in log.posts
    ]
    events += [
        {
            "event_id": str(_uuid(rng)),
            "tenant_id": tenant,
            "event_type": "Liked",
            "post_id": str(log.posts[i].id),
            "user_id": str(users[u]),
            "author_id": str(users[log.posts[i].author]),
            "occurred_at": _ts(t),
        }
        for t, u, i in train
    ]
    candidates = [
        {
            "user_id": str(users[p.author]),
            "created_at": _ts(p.created),
            "post_id": str(p.id),
            "tenant_id": tenant,
            "visibility": "public",
            "deleted": 0,
            "version": 1,
            "event_id": events[n]["event_id"],
        }
        for n, p in enumerate(log.posts)
    ]
    await ch.insert("engagement_events", events)
    await ch.insert("feed_candidates", candidates)


def precision_at_k(ranked: Sequence[uuid.UUID], relevant: Collection[uuid.UUID], k: int) -> float:
    """Share of the first ``k`` recommendations that are relevant (a short list counts as k)."""
    return sum(1 for p in ranked[:k] if p in relevant) / k


def recall_at_k(ranked: Sequence[uuid.UUID], relevant: Collection[uuid.UUID], k: int) -> float:
    """Share of the relevant posts among the first ``k`` recommendations (0 if none relevant)."""
    if not relevant:
        return 0.0
    return sum(1 for p in ranked[:k] if p in relevant) / len(relevant)


@dataclasses.dataclass(frozen=True, slots=True)
class MethodScore:
    """One method's figures."""

    method: str
    users: int
    precision: float
    recall: float
    coverage: float
    authors_per_list: float
    #: Share of the held-out likes present in the method's candidate pool (Nova only).
    pool_recall: float | None = None


#: A user's top-k list (post ids) with each post's author.
Ranking = list[tuple[uuid.UUID, uuid.UUID]]


def score_method(
    method: str,
    lists: dict[uuid.UUID, Ranking],
    held_out: dict[uuid.UUID, set[uuid.UUID]],
    *,
    k: int,
    catalogue: int,
) -> MethodScore:
    """Mean precision@k and recall@k over the users with held-out likes, coverage, diversity."""
    users = [u for u, rel in held_out.items() if rel]
    tops = {u: [p for p, _ in lists.get(u, [])[:k]] for u in users}
    shown = {p for top in tops.values() for p in top}
    n = max(len(users), 1)
    return MethodScore(
        method=method,
        users=len(users),
        precision=sum(precision_at_k(tops[u], held_out[u], k) for u in users) / n,
        recall=sum(recall_at_k(tops[u], held_out[u], k) for u in users) / n,
        coverage=len(shown) / max(catalogue, 1),
        authors_per_list=sum(len({a for _, a in lists.get(u, [])[:k]}) for u in users) / n,
    )


async def evaluate(
    ch: ClickHouse,
    plan: EvalPlan,
    weights: Weights,
    *,
    per_source: int = 200,
    lookback_seconds: int = 7 * 86_400,
    trending_seconds: int = 86_400,
    max_per_author: int = 2,
    window: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> list[MethodScore]:
    """Generate, load, rank every user with Nova and the baselines; the figures per method."""
    log = generate(plan)
    await load(ch, log)
    train, test = log.split()
    ids, posts, k = log.user_ids, log.posts, plan.k
    liked: dict[int, set[int]] = collections.defaultdict(set)
    popularity: collections.Counter[int] = collections.Counter()
    trending: collections.Counter[int] = collections.Counter()
    for t, u, i in train:
        liked[u].add(i)
        popularity[i] += 1
        if t >= -trending_seconds:
            trending[i] += 1
    held_out: dict[uuid.UUID, set[uuid.UUID]] = collections.defaultdict(set)
    for _, u, i in test:
        held_out[ids[u]].add(posts[i].id)
    popular = sorted(popularity, key=lambda i: (popularity[i], posts[i].id.int), reverse=True)
    hot = sorted(trending, key=lambda i: (trending[i], posts[i].id.int), reverse=True)
    newest = sorted(range(len(posts)), key=lambda i: (posts[i].created, posts[i].id.int))[::-1]
    lists: dict[str, dict[uuid.UUID, Ranking]] = {m: {} for m in METHODS}
    evaluated = [u for u in range(plan.users) if ids[u] in held_out]
    pooled = 0
    for n, u in enumerate(evaluated):

        def allowed(i: int, u: int = u) -> bool:
            return posts[i].author != u and i not in liked[u]

        followed = set(log.follows[u])
        lists["chronological_followed"][ids[u]] = [
            (posts[i].id, ids[posts[i].author])
            for i in [i for i in newest if posts[i].author in followed and allowed(i)][:k]
        ]
        lists["global_popularity"][ids[u]] = [
            (posts[i].id, ids[posts[i].author]) for i in [i for i in popular if allowed(i)][:k]
        ]
        lists["popular_last_day"][ids[u]] = [
            (posts[i].id, ids[posts[i].author]) for i in [i for i in hot if allowed(i)][:k]
        ]
        sql = candidates_sql(
            CandidateQuery(
                tenant_id=plan.tenant_id,
                viewer_id=ids[u],
                followee_ids=tuple(sorted(ids[v] for v in followed)),
                now=CUTOFF,
                per_source=per_source,
                lookback_seconds=lookback_seconds,
                trending_seconds=trending_seconds,
            )
        )
        candidates = parse_candidates(await ch.query(sql))
        pooled += len(held_out[ids[u]] & {c.post_id for c in candidates})
        ranked = rank(
            candidates,
            Exclusions(viewer_id=ids[u], post_ids=frozenset(posts[i].id for i in liked[u])),
            weights,
            max_per_author=max_per_author,
            window=window,
            limit=k,
        )
        lists["nova"][ids[u]] = [(r.post_id, r.author_id) for r in ranked]
        if progress is not None:
            progress(n + 1, len(evaluated))
    scores = [score_method(m, lists[m], held_out, k=k, catalogue=len(posts)) for m in METHODS]
    total = sum(len(rel) for rel in held_out.values())
    scores[0] = dataclasses.replace(scores[0], pool_recall=pooled / max(total, 1))
    return scores


def format_table(scores: Sequence[MethodScore], *, k: int) -> str:
    """A Markdown table of ``scores``."""
    head = (
        f"| method | users | precision@{k} | recall@{k} | coverage | authors/list"
        " | held-out in candidates |"
    )
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    rows += [
        f"| {s.method} | {s.users} | {s.precision:.4f} | {s.recall:.4f} | {s.coverage:.4f} |"
        f" {s.authors_per_list:.2f} |"
        f" {'-' if s.pool_recall is None else f'{s.pool_recall:.4f}'} |"
        for s in scores
    ]
    return "\n".join(rows)
