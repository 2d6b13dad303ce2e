"""The one way hubbub opens Redis (standalone or Cluster, redis-py asyncio), reads a sharded
pub/sub channel on either, and maps redis-py's errors into the kernel tree at the boundary."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub

from kernel.errors import Unavailable

RedisClient = Redis | RedisCluster
SCRIPT_CHUNK = 500
"""Items per batched script call (a script runs alone on its server: keep each call short)."""
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
"""Bounds on every call, so a dead or frozen server makes callers fail (retryable), never hang."""

ZREM_IF_DUE = """
local removed = 0
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) <= tonumber(ARGV[1]) then removed = removed + redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return removed
"""
"""Lua: remove the members ARGV[2..] from the deadline index KEYS[1] only while their score is
<= ARGV[1] (now), so an entry a concurrent writer has just moved later survives."""


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


async def eval_batched(
    client: RedisClient,
    script: str,
    keys: Sequence[str],
    args: Sequence[Sequence[str]],
) -> list[Any]:
    """Run `script` over many items in a few calls, returning one reply per item, in order.
    Item i is keyed by keys[i] and brings args[i] (its key first among them). The script takes
    every item's args flattened in ARGV, each item's as a count then that many strings, and
    returns one reply per item. One call per chunk on a standalone server; on a Cluster one per
    node and chunk, concurrently: the items of a call share a node but not a slot, so the
    script must start with `#!lua flags=allow-cross-slot-keys` and declare no KEYS."""
    groups: list[tuple[Any, list[int]]] = []
    if isinstance(client, RedisCluster):
        await client.initialize()  # a no-op once the slot map is known
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for index, key in enumerate(keys):
            node = client.get_node_from_key(key)
            if node is None:
                raise Unavailable("redis: a slot has no node")
            by_node.setdefault(node.name, (node, []))[1].append(index)
        groups = [(node, chunk) for node, members in by_node.values() for chunk in _chunks(members)]
    else:
        groups = [(None, chunk) for chunk in _chunks(list(range(len(keys))))]

    async def call(node: Any, chunk: list[int]) -> list[Any]:
        flat: list[str] = []
        for index in chunk:
            flat += [str(len(args[index])), *args[index]]
        if node is None:
            return list(await client.eval(script, 0, *flat))
        return list(await client.execute_command("EVAL", script, 0, *flat, target_nodes=node))

    replies = await asyncio.gather(*(call(node, chunk) for node, chunk in groups))
    ordered: list[Any] = [None] * len(keys)
    for (_, chunk), reply in zip(groups, replies, strict=True):
        for index, value in zip(chunk, reply, strict=True):
            ordered[index] = value
    return ordered


def _chunks(indexes: list[int]) -> list[list[int]]:
    return [indexes[start : start + SCRIPT_CHUNK] for start in range(0, len(indexes), SCRIPT_CHUNK)]
