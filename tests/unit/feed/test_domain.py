import uuid

from nova.feed.domain import FeedSource, merge_newest


def test_merge_newest_deduplicates_sorts_and_limits() -> None:
    a, b, c, d = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
    assert merge_newest([a, c], [c, b], [d], limit=3) == [d, c, b]
    assert merge_newest([], limit=5) == []


def test_feed_sources_are_strings() -> None:
    assert {str(s) for s in FeedSource} == {"timeline", "rebuilt", "database"}
