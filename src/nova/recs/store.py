"""Recommendation candidates from ClickHouse (the analytics sink's tables), one query per user.

The SQL text is the same on chdb and on a server. Values are inlined as literals: ids are
rendered from :class:`uuid.UUID` and the tenant is quoted with :func:`quote`.

What ClickHouse excludes: deleted posts (``feed_candidates FINAL`` keeps the highest version,
a deletion), the viewer's own posts, posts the viewer has liked (likes minus unlikes) or
commented on, posts whose visibility the viewer cannot have (private; followers-only of
someone not followed), and posts the viewer was already shown (``recommendation_events``,
see :attr:`CandidateQuery.seen_seconds`). Blocks, mutes and exact visibility are the service's
job (users and content clients), because ClickHouse does not hold the social graph's current
state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from nova.recs.domain import Candidate, Source

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MAX_SEEN",
    "CandidateQuery",
    "active_tenants_sql",
    "active_users_sql",
    "candidates_sql",
    "parse_candidates",
    "quote",
]

#: Most engagement ages per post sent back for the velocity score.
MAX_AGES = 500
#: Most authors the affinity source reads recent posts of.
AFFINITY_AUTHORS = 20
#: Most already-seen posts (the viewer's latest impressions) a candidate query leaves out.
MAX_SEEN = 5_000
# Matches no id: keeps ``IN (...)`` valid when the viewer follows nobody.
_NOBODY = "'-'"


def quote(value: str) -> str:
    """A ClickHouse string literal for ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ids(ids: Sequence[uuid.UUID]) -> str:
    return ", ".join(f"'{uuid.UUID(str(i))}'" for i in ids) or _NOBODY


@dataclasses.dataclass(frozen=True, slots=True)
class CandidateQuery:
    """What one viewer's candidate query needs.

    Attributes:
        seen_seconds: Leave out the posts the viewer was shown (a ``RecommendationsServed``
            row) or opened (``RecommendationClicked``) in the last ``seen_seconds`` before
            ``now``, at most the :data:`MAX_SEEN` latest; 0 leaves nothing out (and the query
            does not read ``recommendation_events``).
    """

    tenant_id: str
    viewer_id: uuid.UUID
    followee_ids: tuple[uuid.UUID, ...]
    now: dt.datetime
    per_source: int = 200
    lookback_seconds: int = 7 * 86_400
    trending_seconds: int = 86_400
    seen_seconds: int = 0


def _unseen(q: CandidateQuery) -> str:
    """``AND post_id NOT IN (<the viewer's recently seen posts>)``; empty when disabled.

    Each source filters with it before its ``LIMIT``, so a seen post frees its slot for the
    next-best unseen one instead of shrinking the list. The range read is a prefix of the
    table's sort key ``(tenant_id, user_id, ...)``. Rows written twice (no ``FINAL``) name the
    same post, so they do not change the set.
    """
    if q.seen_seconds <= 0:
        return ""
    return f"""AND post_id NOT IN (
            SELECT post_id FROM recommendation_events
            WHERE tenant_id = {quote(q.tenant_id)} AND user_id = '{q.viewer_id}'
              AND event_type IN ('RecommendationsServed', 'RecommendationClicked')
              AND occurred_at >= now_ts - toIntervalSecond({int(q.seen_seconds)})
            GROUP BY post_id ORDER BY max(occurred_at) DESC, post_id DESC LIMIT {MAX_SEEN})"""  # noqa: S608  # a UUID, an int, a quote()d string


def candidates_sql(q: CandidateQuery) -> str:
    """One query: ``(post_id, author_id, age_s, source, affinity, engagement_ages)`` rows.

    A post proposed by several sources comes back once per source.
    """
    t = quote(q.tenant_id)
    v = f"'{q.viewer_id}'"
    follows = _ids(q.followee_ids)
    now = q.now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    k = int(q.per_source)
    since = f"now_ts - toIntervalSecond({int(q.lookback_seconds)})"
    trend_since = f"now_ts - toIntervalSecond({int(q.trending_seconds)})"
    engaged = "event_type IN ('Liked', 'Commented')"
    unseen = _unseen(q)
    return f"""
WITH toDateTime64('{now}', 6, 'UTC') AS now_ts
SELECT
    c.post_id,
    p.author_id,
    toFloat64(dateDiff('millisecond', p.created_at, now_ts)) / 1000 AS age_s,
    c.source,
    a.n AS affinity,
    s.ages AS engagement_ages
FROM (
    SELECT post_id, 'friends_engaged' AS source FROM (
        SELECT post_id, count() AS n FROM engagement_events FINAL
        WHERE tenant_id = {t} AND {engaged} AND user_id IN ({follows})
          AND occurred_at >= {since} {unseen}
        GROUP BY post_id ORDER BY n DESC, post_id DESC LIMIT {k})
    UNION ALL
    SELECT post_id, 'trending' AS source FROM (
        SELECT post_id, count() AS n FROM engagement_events FINAL
        WHERE tenant_id = {t} AND {engaged} AND occurred_at >= {trend_since} {unseen}
        GROUP BY post_id ORDER BY n DESC, post_id DESC LIMIT {k})
    UNION ALL
    SELECT post_id, 'affinity' AS source FROM (
        SELECT post_id FROM feed_candidates FINAL
        WHERE tenant_id = {t} AND deleted = 0 AND created_at >= {since} {unseen}
          AND user_id IN (
            SELECT author_id FROM engagement_events FINAL
            WHERE tenant_id = {t} AND {engaged} AND user_id = {v} AND author_id != {v}
              AND occurred_at >= {since}
            GROUP BY author_id ORDER BY count() DESC, author_id DESC LIMIT {AFFINITY_AUTHORS})
        ORDER BY created_at DESC, post_id DESC LIMIT {k})
    UNION ALL
    SELECT post_id, 'followed' AS source FROM (
        SELECT post_id FROM feed_candidates FINAL
        WHERE tenant_id = {t} AND deleted = 0 AND user_id IN ({follows})
          AND created_at >= {since} {unseen}
        ORDER BY created_at DESC, post_id DESC LIMIT {k})
) AS c
INNER JOIN (
    SELECT post_id, user_id AS author_id, created_at, visibility FROM feed_candidates FINAL
    WHERE tenant_id = {t} AND deleted = 0
) AS p ON p.post_id = c.post_id
LEFT JOIN (
    SELECT post_id,
           groupArray({MAX_AGES})(toFloat64(dateDiff('second', occurred_at, now_ts))) AS ages
    FROM engagement_events FINAL
    WHERE tenant_id = {t} AND {engaged} AND occurred_at >= {since}
    GROUP BY post_id
) AS s ON s.post_id = c.post_id
LEFT JOIN (
    SELECT author_id, count() AS n FROM engagement_events FINAL
    WHERE tenant_id = {t} AND {engaged} AND user_id = {v} AND occurred_at >= {since}
    GROUP BY author_id
) AS a ON a.author_id = p.author_id
WHERE p.author_id != {v}
  AND (p.visibility = 'public' OR (p.visibility = 'followers' AND p.author_id IN ({follows})))
  AND c.post_id NOT IN (
    SELECT post_id FROM engagement_events FINAL
    WHERE tenant_id = {t} AND user_id = {v}
      AND event_type IN ('Liked', 'Unliked', 'Commented')
    GROUP BY post_id
    HAVING countIf(event_type = 'Commented') > 0
        OR countIf(event_type = 'Liked') > countIf(event_type = 'Unliked'))
ORDER BY c.post_id, c.source
"""  # noqa: S608  # literals are UUIDs, ints and quote()d strings


def active_tenants_sql(*, since: dt.datetime, limit: int) -> str:
    """Tenants whose users liked or commented since ``since``, busiest first."""
    ts = since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"""
SELECT tenant_id FROM engagement_events
WHERE event_type IN ('Liked', 'Commented') AND occurred_at >= toDateTime64('{ts}', 6, 'UTC')
GROUP BY tenant_id ORDER BY count() DESC, tenant_id LIMIT {int(limit)}
"""  # noqa: S608  # an int and a formatted timestamp


def active_users_sql(tenant_id: str, *, since: dt.datetime, limit: int) -> str:
    """Users who liked or commented since ``since``: the precompute job's active users."""
    ts = since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"""
SELECT user_id FROM engagement_events
WHERE tenant_id = {quote(tenant_id)} AND event_type IN ('Liked', 'Commented')
  AND occurred_at >= toDateTime64('{ts}', 6, 'UTC')
GROUP BY user_id ORDER BY max(occurred_at) DESC, user_id LIMIT {int(limit)}
"""  # noqa: S608  # literals are quote()d strings, ints and a timestamp


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def parse_candidates(rows: Sequence[Sequence[Any]]) -> list[Candidate]:
    """Candidates from :func:`candidates_sql` rows (rows with unparsable ids are skipped)."""
    out: list[Candidate] = []
    for post, author, age, source, affinity, ages in rows:
        post_id, author_id = _uuid(post), _uuid(author)
        if post_id is None or author_id is None:
            continue
        out.append(
            Candidate(
                post_id=post_id,
                author_id=author_id,
                age=float(age),
                sources=frozenset({Source(source)}),
                engagement_ages=tuple(float(a) for a in ages or ()),
                affinity=int(affinity or 0),
            )
        )
    return out
