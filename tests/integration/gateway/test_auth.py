"""Bearer tokens: anything but a valid, unexpired HS256 token of ours is a 401 with a body."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from typing import TYPE_CHECKING, Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.gateway.stack import GatewayStack, gql

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.integration

_VIEWER = "{ viewer { user { username } } }"


def _claims(gateway: GatewayStack, user_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    settings = gateway.stack.settings
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": str(user_id),
        "tid": "default",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
    }
    claims.update(overrides)
    return claims


async def _assert_401(client: httpx.AsyncClient, token: str) -> None:
    response = await gql(client, _VIEWER, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "correlationId" in errors[0]["extensions"]


async def test_valid_token_identifies_the_viewer(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    ada = await gateway.person()
    response = await gql(client, _VIEWER, person=ada)
    assert response.json() == {"data": {"viewer": {"user": {"username": ada.username}}}}


async def test_expired_token(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada = await gateway.person()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    await _assert_401(client, gateway.tokens.issue(user_id=ada.id, tenant_id="default", now=past))


async def test_alg_none(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada = await gateway.person()
    token = jwt.encode(_claims(gateway, ada.id), key="", algorithm="none")
    await _assert_401(client, token)


async def test_wrong_signing_key(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada = await gateway.person()
    token = jwt.encode(_claims(gateway, ada.id), "another-secret-of-32-characters!!", "HS256")
    await _assert_401(client, token)


async def test_rs256_and_hs_rs_confusion(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada = await gateway.person()
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await _assert_401(client, jwt.encode(_claims(gateway, ada.id), private, algorithm="RS256"))
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The classic confusion: HS256 keyed with the RSA public key. PyJWT refuses to use a PEM
    # key as an HMAC secret, so forge the signature by hand.
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    body = jwt.utils.base64url_encode(
        orjson.dumps(_claims(gateway, ada.id, iat=0, exp=2_000_000_000))
    )
    signature = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    forged = b".".join([header, body, jwt.utils.base64url_encode(signature)]).decode()
    await _assert_401(client, forged)


async def test_wrong_audience_and_garbage(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada = await gateway.person()
    secret = gateway.stack.settings.secret_key.get_secret_value()
    await _assert_401(client, jwt.encode(_claims(gateway, ada.id, aud="other"), secret, "HS256"))
    await _assert_401(client, "not.a.jwt")
    basic = await gql(client, _VIEWER, headers={"Authorization": "Basic YWRhOnB3"})
    assert basic.status_code == 401
