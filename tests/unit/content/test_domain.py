import datetime as dt
import uuid

import pytest

from nova.content import domain
from nova.content.domain import Post, Visibility
from nova.platform.errors import ErrorCode, InvalidInputError

AUTHOR = uuid.UUID(int=1)
VIEWER = uuid.UUID(int=2)


def make_post(visibility: Visibility) -> Post:
    return Post(
        id=uuid.UUID(int=10),
        tenant_id="default",
        author_id=AUTHOR,
        body="hi",
        visibility=visibility,
        media_ids=(),
        like_count=0,
        comment_count=0,
        version=1,
        created_at=dt.datetime.now(dt.UTC),
        edited_at=None,
    )


@pytest.mark.parametrize(
    ("visibility", "follows", "blocked", "expected"),
    [
        (Visibility.PUBLIC, False, False, True),
        (Visibility.PUBLIC, True, True, False),
        (Visibility.FOLLOWERS, False, False, False),
        (Visibility.FOLLOWERS, True, False, True),
        (Visibility.FOLLOWERS, True, True, False),
        (Visibility.PRIVATE, True, False, False),
    ],
)
def test_can_view_for_another_user(
    visibility: Visibility, follows: bool, blocked: bool, expected: bool
) -> None:
    post = make_post(visibility)
    assert (
        domain.can_view(post, viewer_id=VIEWER, follows_author=follows, blocked=blocked) is expected
    )


@pytest.mark.parametrize("visibility", list(Visibility))
def test_author_always_sees_own_post(visibility: Visibility) -> None:
    post = make_post(visibility)
    assert domain.can_view(post, viewer_id=AUTHOR, follows_author=False, blocked=False)


def test_anonymous_sees_only_public() -> None:
    assert domain.can_view(
        make_post(Visibility.PUBLIC), viewer_id=None, follows_author=False, blocked=False
    )
    assert not domain.can_view(
        make_post(Visibility.FOLLOWERS), viewer_id=None, follows_author=False, blocked=False
    )


def test_visible_visibilities() -> None:
    assert domain.visible_visibilities(is_author=True, follows_author=False) == tuple(Visibility)
    assert domain.visible_visibilities(is_author=False, follows_author=True) == (
        Visibility.PUBLIC,
        Visibility.FOLLOWERS,
    )
    assert domain.visible_visibilities(is_author=False, follows_author=False) == (
        Visibility.PUBLIC,
    )


def test_post_body_is_stripped_and_bounded() -> None:
    assert domain.check_post_body("  hi  ", has_media=False) == "hi"
    assert domain.check_post_body("", has_media=True) == ""
    assert len(domain.check_post_body("x" * 5000, has_media=False)) == 5000


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001])
def test_bad_post_body(body: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        domain.check_post_body(body, has_media=False)
    assert info.value.code is ErrorCode.INVALID_INPUT
    assert info.value.field == "body"


@pytest.mark.parametrize("body", ["", " ", "x" * 2001])
def test_bad_comment_body(body: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        domain.check_comment_body(body)
    assert info.value.field == "body"


def test_bad_visibility() -> None:
    with pytest.raises(InvalidInputError) as info:
        domain.check_visibility("friends")
    assert info.value.field == "visibility"
    assert domain.check_visibility("followers") is Visibility.FOLLOWERS


def test_media_ids_are_deduplicated_and_bounded() -> None:
    ids = [uuid.UUID(int=n) for n in range(3)]
    assert domain.check_media_ids([*ids, ids[0]]) == tuple(ids)
    with pytest.raises(InvalidInputError) as info:
        domain.check_media_ids([uuid.UUID(int=n) for n in range(11)])
    assert info.value.field == "mediaIds"


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_bad_limit(limit: int) -> None:
    with pytest.raises(InvalidInputError) as info:
        domain.check_limit(limit)
    assert info.value.field == "limit"


def test_cursor_round_trip_and_garbage() -> None:
    post_id = uuid.uuid4()
    cursor = domain.encode_cursor(post_id)
    assert "=" not in cursor
    assert domain.decode_cursor(cursor) == post_id
    assert domain.decode_cursor(None) is None
    assert domain.decode_cursor("") is None
    with pytest.raises(InvalidInputError) as info:
        domain.decode_cursor("not-a-cursor!")
    assert info.value.field == "after"
