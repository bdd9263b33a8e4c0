import base64
import datetime as dt
import json
import uuid

import jwt
import pytest

from nova.platform import errors
from nova.users.security import (
    OWASP_MIN_MEMORY_KIB,
    OWASP_MIN_TIME_COST,
    AccessTokens,
    Argon2Params,
    Passwords,
    hash_refresh_token,
    new_refresh_token,
)

SECRET = "unit-test-secret-0123456789abcdef0123456789"
OTHER_SECRET = "another-secret-0123456789abcdef0123456789ab"


def _tokens(**overrides: object) -> AccessTokens:
    config: dict[str, object] = {
        "secret": SECRET,
        "issuer": "nova",
        "audience": "nova-api",
        "ttl": 900,
    }
    config.update(overrides)
    return AccessTokens(**config)  # type: ignore[arg-type]  # test builds kwargs dynamically


def _claims(**overrides: object) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "iss": "nova",
        "aud": "nova-api",
        "sub": str(uuid.uuid4()),
        "tid": "default",
        "jti": "j1",
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
    }
    claims.update(overrides)
    return claims


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_default_argon2_parameters_meet_the_owasp_minimum() -> None:
    params = Passwords().params

    assert params.memory_cost >= OWASP_MIN_MEMORY_KIB == 19_456
    assert params.time_cost >= OWASP_MIN_TIME_COST == 2
    assert params.parallelism == 1


@pytest.mark.parametrize("params", [{"memory_cost": 19_455}, {"time_cost": 1}, {"parallelism": 0}])
def test_weaker_argon2_parameters_are_refused(params: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="argon2id"):
        Argon2Params(**params)


async def test_password_hash_verifies_only_the_right_password() -> None:
    passwords = Passwords()
    encoded = await passwords.hash("correct horse battery")

    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await passwords.verify(encoded, "correct horse battery")
    assert not await passwords.verify(encoded, "wrong horse battery")
    assert not await passwords.verify(None, "correct horse battery")
    assert not await passwords.verify("not-a-hash", "correct horse battery")
    assert not passwords.needs_rehash(encoded)


def test_issued_token_round_trips() -> None:
    tokens = _tokens()
    user_id = uuid.uuid4()

    claims = tokens.verify(tokens.issue(user_id=user_id, tenant_id="t1"))

    assert (claims.user_id, claims.tenant_id) == (user_id, "t1")
    assert claims.expires_at > dt.datetime.now(dt.UTC)


def test_alg_none_token_is_rejected() -> None:
    forged = (
        _b64({"alg": "none", "typ": "JWT"})
        + "."
        + _b64(
            {
                k: (int(v.timestamp()) if isinstance(v, dt.datetime) else v)
                for k, v in _claims().items()
            }
        )
        + "."
    )

    with pytest.raises(errors.UnauthenticatedError) as caught:
        _tokens().verify(forged)

    assert caught.value.code is errors.ErrorCode.UNAUTHENTICATED


def test_token_signed_with_another_key_is_rejected() -> None:
    forged = jwt.encode(_claims(), OTHER_SECRET, algorithm="HS256")

    with pytest.raises(errors.UnauthenticatedError) as caught:
        _tokens().verify(forged)

    assert caught.value.code is errors.ErrorCode.UNAUTHENTICATED


def test_token_with_another_algorithm_is_rejected() -> None:
    forged = jwt.encode(_claims(), SECRET * 2, algorithm="HS512")

    with pytest.raises(errors.UnauthenticatedError):
        _tokens().verify(forged)


def test_expired_token_is_rejected_as_expired() -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    expired = jwt.encode(
        _claims(iat=past, exp=past + dt.timedelta(minutes=5)), SECRET, algorithm="HS256"
    )

    with pytest.raises(errors.UnauthenticatedError) as caught:
        _tokens().verify(expired)

    assert caught.value.code is errors.ErrorCode.TOKEN_EXPIRED


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"sub": "not-a-uuid"},
        {"tid": 7},
    ],
)
def test_token_with_wrong_claims_is_rejected(claims: dict[str, object]) -> None:
    forged = jwt.encode(_claims(**claims), SECRET, algorithm="HS256")

    with pytest.raises(errors.UnauthenticatedError) as caught:
        _tokens().verify(forged)

    assert caught.value.code is errors.ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("missing", ["exp", "jti", "sub", "aud", "iss", "iat", "tid"])
def test_token_missing_a_required_claim_is_rejected(missing: str) -> None:
    claims = _claims()
    del claims[missing]

    with pytest.raises(errors.UnauthenticatedError):
        _tokens().verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_garbage_token_is_rejected() -> None:
    with pytest.raises(errors.UnauthenticatedError):
        _tokens().verify("not.a.token")


def test_refresh_tokens_are_random_and_stored_as_sha256() -> None:
    token, digest = new_refresh_token()
    other, _ = new_refresh_token()

    assert token != other
    assert len(token) >= 43
    assert digest == hash_refresh_token(token)
    assert len(digest) == 32
