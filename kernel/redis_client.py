"""The one way hubbub opens Redis (standalone or Cluster, redis-py asyncio), reads a sharded
pub/sub channel on either, and maps redis-py's errors into the kernel tree at the boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub

from kernel.errors import Unavailable

RedisClient = Redis | RedisCluster
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
"""Bounds on every call, so a dead or frozen server makes callers fail (retryable), never hang."""

ZREM_IF_DUE = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""
"""Lua: remove ARGV[1] from the deadline index KEYS[1] only while its score is <= ARGV[2] (now),
so an entry a concurrent writer has just moved later survives."""


def connect(url: str, *, cluster: bool = False) -> RedisClient:
    """A client for `url` (redis://host:port/db); with `cluster`, any node of a Redis Cluster.
    Responses are decoded to str."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": COMMAND_TIMEOUT_S,
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, health_check_interval=10, **options)


@contextlib.contextmanager
def redis_boundary(what: str) -> Iterator[None]:
    """Turn a Redis outage into `Unavailable` (retryable), chained to the cause."""
    try:
        yield
    except redis_errors.RedisError as exc:
        raise Unavailable(f"{what}: redis unavailable") from exc
    except OSError as exc:
        raise Unavailable(f"{what}: redis unreachable") from exc


class ShardedSubscription:
    """SSUBSCRIBE to channels on a standalone server or a cluster (Redis 7 sharded pub/sub
    works on both) and read their messages. One per listener; `aclose` ends it."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._pubsub: PubSub | ClusterPubSub = client.pubsub()

    async def subscribe(self, *channels: str) -> None:
        """Returns once the server confirmed every channel: later publishes are received."""
        if isinstance(self._client, RedisCluster):
            await self._client.initialize()  # the slot map routes each channel to its node
        await self._pubsub.ssubscribe(*channels)
        confirmed = 0
        while confirmed < len(channels):
            message = await self._read(wait_s=COMMAND_TIMEOUT_S, skip_control=False)
            if message is None:
                raise Unavailable("redis did not confirm the subscription")
            if message["type"] == "ssubscribe":
                confirmed += 1

    async def next_message(self, wait_s: float) -> tuple[str, str] | None:
        """(channel, data) of the next published message, or None after `wait_s` seconds."""
        message = await self._read(wait_s=wait_s, skip_control=True)
        if message is None:
            return None
        return str(message["channel"]), str(message["data"])

    async def aclose(self) -> None:
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._pubsub.aclose()

    async def _read(self, *, wait_s: float, skip_control: bool) -> dict[str, Any] | None:
        if isinstance(self._pubsub, ClusterPubSub):
            message = await self._pubsub.get_sharded_message(
                ignore_subscribe_messages=skip_control, timeout=wait_s
            )
        else:
            message = await self._pubsub.get_message(ignore_subscribe_messages=skip_control, timeout=wait_s)
        if message is not None and skip_control and message["type"] != "smessage":
            return None
        return message
