import uuid

import pytest

from nova.platform import errors
from nova.users import domain
from nova.users.domain import CommentAudience, FeedMode, FollowDecision, Preferences


@pytest.mark.parametrize("name", ["abc", "A_b_9", "x" * 30, "  padded_ok  "])
def test_valid_usernames_are_accepted_and_trimmed(name: str) -> None:
    assert domain.check_username(name) == name.strip()


@pytest.mark.parametrize("name", ["ab", "x" * 31, "has space", "dash-ed", "dot.ted", "émile", ""])
def test_invalid_usernames_are_rejected(name: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        domain.check_username(name)

    assert caught.value.field == "username"


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@sub.example.org"])
def test_valid_emails(email: str) -> None:
    assert domain.check_email(f" {email} ") == email


@pytest.mark.parametrize(
    "email", ["plain", "a@b", "a@@b.co", "a b@c.co", "@b.co", "a@.co", "a@b.", "x" * 250 + "@b.co"]
)
def test_invalid_emails(email: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        domain.check_email(email)

    assert caught.value.field == "email"


def test_password_length_rules() -> None:
    assert domain.check_password("x" * 10) == "x" * 10
    for bad in ("x" * 9, "x" * 1025):
        with pytest.raises(errors.InvalidInputError) as caught:
            domain.check_password(bad)
        assert caught.value.field == "password"


def test_profile_text_rules() -> None:
    assert domain.check_display_name("  Ada  ") == "Ada"
    assert domain.check_bio("x" * 500) == "x" * 500
    with pytest.raises(errors.InvalidInputError):
        domain.check_bio("x" * 501)
    with pytest.raises(errors.InvalidInputError) as caught:
        domain.check_display_name("bad\x00name")
    assert caught.value.field == "displayName"


@pytest.mark.parametrize(
    ("blocked", "following", "requested", "private", "expected"),
    [
        (False, False, False, False, FollowDecision.FOLLOW),
        (False, False, False, True, FollowDecision.REQUEST),
        (False, True, False, True, FollowDecision.ALREADY_FOLLOWING),
        (False, True, False, False, FollowDecision.ALREADY_FOLLOWING),
        (False, False, True, True, FollowDecision.ALREADY_REQUESTED),
        (False, False, True, False, FollowDecision.FOLLOW),
    ],
)
def test_decide_follow(
    blocked: bool, following: bool, requested: bool, private: bool, expected: FollowDecision
) -> None:
    decision = domain.decide_follow(
        blocked=blocked, following=following, requested=requested, target_private=private
    )

    assert decision is expected


def test_decide_follow_refuses_across_a_block() -> None:
    with pytest.raises(errors.PermissionDeniedError) as caught:
        domain.decide_follow(blocked=True, following=True, requested=False, target_private=False)

    assert caught.value.code is errors.ErrorCode.BLOCKED


def test_self_actions_are_rejected() -> None:
    me = uuid.uuid4()

    with pytest.raises(errors.InvalidInputError) as caught:
        domain.check_not_self(me, me, action="block")

    assert caught.value.code is errors.ErrorCode.SELF_ACTION
    domain.check_not_self(me, uuid.uuid4(), action="block")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Ad", "ad"), ("@ada", "ada"), (" a_ ", "a_"), ("", None), ("a%", None), ("a" * 31, None)],
)
def test_search_prefix(raw: str, expected: str | None) -> None:
    assert domain.search_prefix(raw) == expected


@pytest.mark.parametrize("limit", [0, -1, 51])
def test_limits_are_bounded(limit: int) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        domain.check_limit(limit, maximum=50)

    assert caught.value.field == "limit"


def test_preference_changes_are_normalized() -> None:
    changes = domain.check_preference_changes(
        {"feed_mode": "chronological", "who_can_comment": "nobody", "notify_on_follow": False}
    )

    assert changes == {
        "feed_mode": "chronological",
        "who_can_comment": "nobody",
        "notify_on_follow": False,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"feed_mode": "newest"}, "feed_mode"),
        ({"who_can_comment": 1}, "who_can_comment"),
        ({"show_sensitive_media": "true"}, "show_sensitive_media"),
        ({}, "preferences"),
    ],
)
def test_bad_preference_changes_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        domain.check_preference_changes(changes)

    assert caught.value.field == field


def test_stored_preferences_fill_defaults_and_ignore_unknown_keys() -> None:
    prefs = Preferences.from_stored(
        {"feed_mode": "chronological", "legacy": 1, "who_can_comment": 3}
    )

    assert prefs.feed_mode is FeedMode.CHRONOLOGICAL
    assert prefs.who_can_comment is CommentAudience.EVERYONE
    assert Preferences.from_stored(prefs.as_dict()) == prefs
