"""Transport edges: malformed, unknown, oversized, late and unauthenticated calls get proper
statuses and never take a server down; health, reflection, graceful stop, retries, breaker."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import TYPE_CHECKING

import grpc
import pytest
import pytest_asyncio
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client import REGISTRY

from nova.pb import users_pb2 as pb
from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.resilience import (
    BreakerPolicy,
    CircuitOpenError,
    DeadlineExceededError,
    deadline,
)
from nova.platform.rpc import ClientPolicy, RpcTarget, ServerPolicy, check_health, start_server
from nova.users.api import SERVICE_NAME
from tests.integration.rpc.fakes import FakeUsers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.platform.rpc import RpcServer

ACTOR = Actor.user(uuid.uuid4(), tenant_id="t1", correlation_id="c0ffee" * 5 + "ab")
GET_USERS = f"/{SERVICE_NAME}/GetUsers"
POLICY = ClientPolicy(caller="test", timeout=2.0)


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[tuple[FakeUsers, RpcServer]]:
    users = FakeUsers()
    server = await start_server(
        [users.definition()],
        address="127.0.0.1:0",
        policy=ServerPolicy(max_message_bytes=64 * 1024, reflection=True),
    )
    try:
        yield users, server
    finally:
        await server.stop(0)


def _raw(server: RpcServer) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")


def _same(data: bytes) -> bytes:
    return data


def _bytes_call(
    channel: grpc.aio.Channel, path: str
) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(path, request_serializer=_same, response_deserializer=_same)


async def _raw_call(server: RpcServer, path: str, payload: bytes) -> None:
    async with _raw(server) as channel:
        await _bytes_call(channel, path)(payload, metadata=(("x-nova-tenant", "t1"),), timeout=2.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _alive(server: RpcServer) -> None:
    target = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{server.port}", policy=POLICY
    )
    try:
        reply = await target.call(
            "GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR, idempotent=True
        )
        assert len(reply.users) == 1
    finally:
        await target.close()
    assert await check_health(f"127.0.0.1:{server.port}", service=SERVICE_NAME)


async def test_malformed_message_is_invalid_argument(fake: tuple[FakeUsers, RpcServer]) -> None:
    _, server = fake
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_call(server, GET_USERS, b"\xff\xff\xff\xff")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    await _alive(server)


async def test_unknown_method_and_service_are_unimplemented(
    fake: tuple[FakeUsers, RpcServer],
) -> None:
    _, server = fake
    for path in (f"/{SERVICE_NAME}/NoSuchMethod", "/nova.nothing.v1.Nope/Get"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _raw_call(server, path, b"")
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    await _alive(server)


async def test_oversized_message_is_resource_exhausted(fake: tuple[FakeUsers, RpcServer]) -> None:
    _, server = fake
    big = pb.IdsRequest(ids=[str(uuid.uuid4()) for _ in range(3000)]).SerializeToString()
    assert len(big) > 64 * 1024
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw_call(server, GET_USERS, big)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    await _alive(server)


async def test_bad_id_is_invalid_input_with_its_field(fake: tuple[FakeUsers, RpcServer]) -> None:
    _, server = fake
    target = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{server.port}", policy=POLICY
    )
    try:
        with pytest.raises(errors.InvalidInputError) as caught:
            await target.call(
                "GetUsers", pb.IdsRequest(ids=["nope"]), pb.UsersById, ACTOR, idempotent=True
            )
        assert caught.value.field == "ids"
        with pytest.raises(errors.NotFoundError) as missing:
            await target.call(
                "FollowerCount", pb.UserIdRequest(user_id="x"), pb.Count, ACTOR, idempotent=True
            )
        assert missing.value.field == "userId"
        assert target.retries == 0  # domain errors are never retried
    finally:
        await target.close()


async def test_missing_tenant_is_invalid_argument(fake: tuple[FakeUsers, RpcServer]) -> None:
    _, server = fake
    async with _raw(server) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _bytes_call(channel, GET_USERS)(b"", timeout=2.0)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_expired_deadline_fails_fast_and_the_server_carries_on(
    fake: tuple[FakeUsers, RpcServer],
) -> None:
    users, server = fake
    users.delay = 1.0
    target = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{server.port}", policy=POLICY
    )
    try:
        started = time.monotonic()
        with deadline(0.1), pytest.raises(DeadlineExceededError):
            await target.call(
                "GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR,
                idempotent=True,
            )  # fmt: skip
        elapsed = time.monotonic() - started
        # Cut at the deadline, well before the server's 1 s delay (slack for a shared machine).
        assert elapsed < 0.5, elapsed
        with deadline(-1), pytest.raises(DeadlineExceededError):  # spent: never sent
            await target.call("GetUsers", pb.IdsRequest(), pb.UsersById, ACTOR, idempotent=True)
    finally:
        await target.close()
        users.delay = 0.0
    await _alive(server)


async def test_metadata_carries_actor_and_trace(fake: tuple[FakeUsers, RpcServer]) -> None:
    users, server = fake
    users.actors.clear()
    await _alive(server)
    seen = users.actors[-1]
    assert (seen.tenant_id, seen.user_id, seen.correlation_id) == (
        ACTOR.tenant_id, ACTOR.user_id, ACTOR.correlation_id,
    )  # fmt: skip


async def test_reflection_lists_the_services(fake: tuple[FakeUsers, RpcServer]) -> None:
    _, server = fake

    def names() -> list[str]:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            return list(ProtoReflectionDescriptorDatabase(channel).get_services())

    listed = await asyncio.to_thread(names)
    assert SERVICE_NAME in listed
    assert "grpc.health.v1.Health" in listed


async def test_graceful_stop_finishes_in_flight_calls() -> None:
    users = FakeUsers(delay=0.3)
    server = await start_server([users.definition()], address="127.0.0.1:0", policy=ServerPolicy())
    target = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{server.port}", policy=POLICY
    )
    try:
        call = asyncio.create_task(
            target.call("GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR,
                        idempotent=False)
        )  # fmt: skip
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await server.stop(2.0)
        assert time.monotonic() - started < 2.0  # returned once the call finished
        assert len((await call).users) == 1
        with pytest.raises(errors.UnavailableError):
            await target.call("GetUsers", pb.IdsRequest(), pb.UsersById, ACTOR, idempotent=False)
    finally:
        await target.close()


async def test_idempotent_calls_retry_on_the_live_replica(
    fake: tuple[FakeUsers, RpcServer],
) -> None:
    _, server = fake
    addresses = f"127.0.0.1:{_free_port()},127.0.0.1:{server.port}"
    target = RpcTarget(SERVICE_NAME, name="users", addresses=addresses, policy=POLICY)
    try:
        for _ in range(20):
            await target.call(
                "GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR,
                idempotent=True,
            )  # fmt: skip
        assert target.retries <= target.budget.spent
    finally:
        await target.close()


async def test_retries_on_unavailable_are_counted_and_bounded_by_the_budget(
    fake: tuple[FakeUsers, RpcServer],
) -> None:
    users, server = fake
    policy = ClientPolicy(caller="test", timeout=2.0, retry_budget_ratio=0.0)  # reserve only
    target = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{server.port}", policy=policy
    )
    retried, refused = _retries("retried"), _retries("refused")
    users.unavailable = 2  # retry_attempts is 3: two retries, then an answer
    try:
        # An idempotent call that meets UNAVAILABLE is retried and succeeds.
        answer = await target.call(
            "GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR,
            idempotent=True,
        )  # fmt: skip
        assert len(answer.users) == 1
        assert target.retries == 2
        assert _retries("retried") - retried == 2
        # With the reserve spent and nothing earned, the next overload is not retried.
        while target.budget.spend():
            pass
        users.unavailable = 1
        with pytest.raises(errors.UnavailableError):
            await target.call(
                "GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR,
                idempotent=True,
            )  # fmt: skip
        assert _retries("refused") - refused == 1
        assert target.retries == 2
    finally:
        users.unavailable = 0
        await target.close()


async def test_breaker_opens_on_a_dead_target_and_mutations_are_not_retried() -> None:
    policy = ClientPolicy(
        caller="test", timeout=0.5,
        breaker=BreakerPolicy(window=10, minimum_calls=5, open_seconds=30),
    )  # fmt: skip
    target = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{_free_port()}", policy=policy
    )
    try:
        for _ in range(5):
            with pytest.raises(errors.UnavailableError):
                await target.call(
                    "GetUsers", pb.IdsRequest(), pb.UsersById, ACTOR, idempotent=False
                )
        assert target.retries == 0
        started = time.monotonic()
        with pytest.raises(CircuitOpenError):
            await target.call("GetUsers", pb.IdsRequest(), pb.UsersById, ACTOR, idempotent=True)
        assert time.monotonic() - started < 0.01
    finally:
        await target.close()


def _retries(outcome: str) -> float:
    labels = {"service": SERVICE_NAME, "outcome": outcome}
    return REGISTRY.get_sample_value("nova_rpc_client_retries_total", labels) or 0.0
