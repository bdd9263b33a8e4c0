"""Client channels: one balanced channel over a service's replicas, rotated by age.

A :class:`RotatingChannel` holds one ``grpc.aio`` channel whose target lists every replica
(``ipv4:a:p,b:p``, or ``dns:///host:port`` for one name that resolves to many), balanced
``round_robin``: gRPC core keeps a subchannel per address, skips the ones in transient
failure, and on a server's GOAWAY (maximum connection age, graceful stop) lets in-flight
calls finish on the old connection while new calls open a new one.

``rotate_after`` adds client-side rotation for paths where GOAWAY may not arrive (an L4 proxy
in between): a channel older than that is replaced; the old one is closed with a grace
period, so its in-flight calls finish instead of failing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import TYPE_CHECKING

import grpc

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["RotatingChannel", "channel_target", "parse_addresses"]


def parse_addresses(raw: str | Sequence[str]) -> list[str]:
    """``host:port`` entries from a comma-separated string or a list, blanks dropped."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [item.strip() for item in items if item.strip()]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def channel_target(addresses: Sequence[str]) -> str:
    """The gRPC target naming every replica in ``addresses``.

    Raises:
        errors.ConfigurationError: no address, or several host names (one name may resolve to
            many replicas; several names would need a resolver of their own).
    """
    if not addresses:
        raise errors.ConfigurationError(setting="rpc addresses", reason="no address given")
    hosts = [address.rsplit(":", 1)[0] for address in addresses]
    if all(_is_ip(host) for host in hosts):
        scheme = "ipv6" if any(":" in host.strip("[]") for host in hosts) else "ipv4"
        return f"{scheme}:{','.join(addresses)}"
    if len(addresses) == 1:
        return f"dns:///{addresses[0]}"
    raise errors.ConfigurationError(
        setting="rpc addresses",
        reason="list IP addresses, or one DNS name that resolves to every replica",
    )


class RotatingChannel:
    """A load-balanced channel to one service, replaced when older than ``rotate_after``.

    Args:
        addresses: The service's replicas (``host:port``).
        options: gRPC channel arguments (keepalive, message sizes).
        rotate_after: Seconds before the client replaces the channel; None relies on the
            server's maximum connection age alone.
        drain_grace: Seconds a replaced channel's in-flight calls may take to finish.
    """

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        options: Sequence[tuple[str, int | str]] = (),
        rotate_after: float | None = None,
        drain_grace: float = 5.0,
    ) -> None:
        self.target = channel_target(addresses)
        self._options = [*options, ("grpc.lb_policy_name", "round_robin")]
        self._rotate_after = rotate_after
        self._drain_grace = drain_grace
        self._draining: set[asyncio.Task[None]] = set()
        self.rotations = 0
        self._channel = self._open()
        self._opened_at = time.monotonic()

    def _open(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.target, options=self._options)

    def get(self) -> grpc.aio.Channel:
        """The channel to start a call on (rotating first when it is too old)."""
        if self._rotate_after is not None and (
            time.monotonic() - self._opened_at >= self._rotate_after
        ):
            old, self._channel = self._channel, self._open()
            self._opened_at = time.monotonic()
            self.rotations += 1
            task = asyncio.get_running_loop().create_task(old.close(self._drain_grace))
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
        return self._channel

    async def close(self, grace: float | None = None) -> None:
        """Close the channel (and any still draining), letting calls finish within ``grace``."""
        await self._channel.close(grace)
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)
