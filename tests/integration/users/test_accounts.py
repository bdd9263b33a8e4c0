import asyncio
import datetime as dt
import uuid

import jwt
import pytest

from nova.platform import errors
from nova.platform.config import Settings
from nova.platform.context import Actor
from nova.platform.db import Database
from nova.platform.events import Event
from nova.users import UsersService, events
from tests.integration.users._support import PASSWORD, TENANT, People, fetchval, outbox_types

pytestmark = pytest.mark.integration


async def test_register_creates_user_and_emits_user_registered(
    users: UsersService, anonymous: Actor, db: Database
) -> None:
    # when
    user = await users.register(
        anonymous, username="Ada_L", email="ada@example.com", password=PASSWORD
    )

    # then
    assert user.username == "Ada_L"
    assert (user.follower_count, user.following_count, user.is_private) == (0, 0, False)
    assert await outbox_types(db) == ["UserRegistered"]
    payload = await fetchval(db, "SELECT payload->>'user_id' FROM outbox")
    assert payload == str(user.id)


async def test_register_stores_argon2id_at_or_above_owasp_minimum(
    users: UsersService, anonymous: Actor, db: Database
) -> None:
    # when
    user = await users.register(
        anonymous, username="ada", email="ada@example.com", password=PASSWORD
    )

    # then
    stored = await fetchval(db, "SELECT password_hash FROM users WHERE id = $1", user.id)
    algorithm, _, params = stored.split("$")[1:4]
    costs = dict(item.split("=") for item in params.split(","))
    assert algorithm == "argon2id"
    assert int(costs["m"]) >= 19_456
    assert int(costs["t"]) >= 2
    assert int(costs["p"]) == 1
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("username", "email", "code"),
    [
        ("ADA", "other@example.com", errors.ErrorCode.USERNAME_TAKEN),
        ("someone", "ADA@Example.com", errors.ErrorCode.EMAIL_TAKEN),
    ],
)
async def test_register_rejects_taken_username_or_email_case_insensitively(
    users: UsersService, anonymous: Actor, username: str, email: str, code: errors.ErrorCode
) -> None:
    # given
    await users.register(anonymous, username="ada", email="ada@example.com", password=PASSWORD)

    # when
    with pytest.raises(errors.AlreadyExistsError) as caught:
        await users.register(anonymous, username=username, email=email, password=PASSWORD)

    # then
    assert caught.value.code is code


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("ab", "a@example.com", PASSWORD, "username"),
        ("a" * 31, "a@example.com", PASSWORD, "username"),
        ("bad-name", "a@example.com", PASSWORD, "username"),
        ("good_name", "not-an-email", PASSWORD, "email"),
        ("good_name", "a@example.com", "short", "password"),
    ],
)
async def test_register_validates_fields(
    users: UsersService,
    anonymous: Actor,
    db: Database,
    username: str,
    email: str,
    password: str,
    field: str,
) -> None:
    # when
    with pytest.raises(errors.InvalidInputError) as caught:
        await users.register(anonymous, username=username, email=email, password=password)

    # then
    assert caught.value.code is errors.ErrorCode.INVALID_INPUT
    assert caught.value.field == field
    assert await fetchval(db, "SELECT count(*) FROM users") == 0


async def test_register_commits_nothing_when_the_outbox_insert_fails(
    users: UsersService, anonymous: Actor, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an event whose payload cannot be serialized, so outbox.append fails mid-transaction
    def broken_event(
        actor: Actor, event_type: str, *, user_id: uuid.UUID, payload: object
    ) -> Event:
        return Event(
            event_type=event_type,
            aggregate_type="user",
            aggregate_id=str(user_id),
            tenant_id=actor.tenant_id,
            payload={"not_json": object()},
        )

    monkeypatch.setattr(events, "user_event", broken_event)

    # when
    with pytest.raises(TypeError):
        await users.register(anonymous, username="ada", email="ada@example.com", password=PASSWORD)

    # then
    assert await fetchval(db, "SELECT count(*) FROM users") == 0
    assert await fetchval(db, "SELECT count(*) FROM outbox") == 0


async def test_login_by_username_or_email_issues_a_working_token_pair(
    users: UsersService, anonymous: Actor, people: People, settings: Settings
) -> None:
    # given
    ada = await people.new("ada")

    for login in ("ADA", "Ada@Example.com"):
        # when
        pair = await users.login(anonymous, username_or_email=login, password=PASSWORD)

        # then
        assert pair.expires_in == settings.access_token_ttl
        assert pair.token_type == "Bearer"
        claims = await users.authenticate(anonymous, access_token=pair.access_token)
        assert (claims.user_id, claims.tenant_id) == (ada.id, TENANT)


async def test_login_failure_is_identical_for_wrong_password_and_unknown_user(
    users: UsersService, anonymous: Actor, people: People
) -> None:
    # given
    await people.new("ada")

    # when
    with pytest.raises(errors.UnauthenticatedError) as wrong_password:
        await users.login(anonymous, username_or_email="ada", password="not the password")
    with pytest.raises(errors.UnauthenticatedError) as unknown_user:
        await users.login(anonymous, username_or_email="nobody", password=PASSWORD)

    # then
    assert wrong_password.value.code is errors.ErrorCode.INVALID_CREDENTIALS
    assert unknown_user.value.code is errors.ErrorCode.INVALID_CREDENTIALS
    assert wrong_password.value.as_dict() == unknown_user.value.as_dict()


async def test_refresh_rotates_and_reuse_of_a_spent_token_revokes_the_family(
    users: UsersService, anonymous: Actor, people: People
) -> None:
    # given
    await people.new("ada")
    first = await users.login(anonymous, username_or_email="ada", password=PASSWORD)

    # when
    second = await users.refresh(anonymous, refresh_token=first.refresh_token)

    # then: a new pair, and the spent token no longer works
    assert second.refresh_token != first.refresh_token
    with pytest.raises(errors.UnauthenticatedError) as reused:
        await users.refresh(anonymous, refresh_token=first.refresh_token)
    assert reused.value.code is errors.ErrorCode.TOKEN_REVOKED
    # and the reuse revoked the whole family, including the legitimate successor
    with pytest.raises(errors.UnauthenticatedError) as successor:
        await users.refresh(anonymous, refresh_token=second.refresh_token)
    assert successor.value.code is errors.ErrorCode.TOKEN_REVOKED


async def test_refresh_leaves_other_sessions_alone(
    users: UsersService, anonymous: Actor, people: People
) -> None:
    # given: two sessions (families)
    await people.new("ada")
    phone = await users.login(anonymous, username_or_email="ada", password=PASSWORD)
    laptop = await users.login(anonymous, username_or_email="ada", password=PASSWORD)
    await users.refresh(anonymous, refresh_token=phone.refresh_token)

    # when: the phone's spent token is replayed
    with pytest.raises(errors.UnauthenticatedError):
        await users.refresh(anonymous, refresh_token=phone.refresh_token)

    # then: the laptop's session survives
    renewed = await users.refresh(anonymous, refresh_token=laptop.refresh_token)
    assert renewed.refresh_token != laptop.refresh_token


async def test_concurrent_use_of_one_refresh_token_succeeds_at_most_once(
    users: UsersService, anonymous: Actor, people: People
) -> None:
    # given
    await people.new("ada")
    pair = await users.login(anonymous, username_or_email="ada", password=PASSWORD)

    # when
    results = await asyncio.gather(
        *(users.refresh(anonymous, refresh_token=pair.refresh_token) for _ in range(5)),
        return_exceptions=True,
    )

    # then
    failures = [r for r in results if isinstance(r, errors.UnauthenticatedError)]
    assert len(failures) == 4
    assert all(f.code is errors.ErrorCode.TOKEN_REVOKED for f in failures)


async def test_expired_refresh_token_is_rejected(
    users: UsersService, anonymous: Actor, people: People, db: Database
) -> None:
    # given
    await people.new("ada")
    pair = await users.login(anonymous, username_or_email="ada", password=PASSWORD)
    async with db.write() as conn:
        await conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")

    # when
    with pytest.raises(errors.UnauthenticatedError) as caught:
        await users.refresh(anonymous, refresh_token=pair.refresh_token)

    # then
    assert caught.value.code is errors.ErrorCode.TOKEN_EXPIRED


async def test_unknown_refresh_token_is_rejected(users: UsersService, anonymous: Actor) -> None:
    with pytest.raises(errors.UnauthenticatedError) as caught:
        await users.refresh(anonymous, refresh_token="made-up")

    assert caught.value.code is errors.ErrorCode.UNAUTHENTICATED


async def test_logout_revokes_the_session(
    users: UsersService, anonymous: Actor, people: People, db: Database
) -> None:
    # given
    await people.new("ada")
    pair = await users.login(anonymous, username_or_email="ada", password=PASSWORD)
    rotated = await users.refresh(anonymous, refresh_token=pair.refresh_token)

    # when
    await users.logout(anonymous, refresh_token=rotated.refresh_token)
    await users.logout(anonymous, refresh_token=rotated.refresh_token)  # idempotent

    # then
    with pytest.raises(errors.UnauthenticatedError) as caught:
        await users.refresh(anonymous, refresh_token=rotated.refresh_token)
    assert caught.value.code is errors.ErrorCode.TOKEN_REVOKED
    live = await fetchval(db, "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
    assert live == 0


async def test_refresh_tokens_are_stored_hashed(
    users: UsersService, anonymous: Actor, people: People, db: Database
) -> None:
    # given
    await people.new("ada")

    # when
    pair = await users.login(anonymous, username_or_email="ada", password=PASSWORD)

    # then
    stored = await fetchval(db, "SELECT token_hash FROM refresh_tokens")
    assert pair.refresh_token.encode() not in stored
    assert len(stored) == 32


async def test_authenticate_rejects_token_of_another_tenant(
    users: UsersService, people: People, settings: Settings
) -> None:
    # given: a validly signed token for tenant "other"
    ada = await people.new("ada")
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(
        {
            "iss": settings.token_issuer,
            "aud": settings.token_audience,
            "sub": str(ada.id),
            "tid": "other",
            "jti": "x",
            "iat": now,
            "exp": now + dt.timedelta(minutes=5),
        },
        settings.secret_key.get_secret_value(),
        algorithm="HS256",
    )

    # when
    with pytest.raises(errors.UnauthenticatedError) as caught:
        await users.authenticate(Actor.anonymous(tenant_id=TENANT), access_token=token)

    # then
    assert caught.value.code is errors.ErrorCode.UNAUTHENTICATED
