"""Cluster events over Redis sharded pub/sub (standalone or Cluster): one channel per topic
(kernel/redis_keys.event_channel), one subscription and reader task per subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from redis import exceptions as redis_errors

from kernel.cluster_events import ClusterEvent, EventQueue
from kernel.errors import HubbubError
from kernel.redis_client import RedisClient, ShardedSubscription, connect, redis_boundary
from kernel.redis_keys import DEFAULT_NAMESPACE, event_channel

log = logging.getLogger(__name__)

LISTEN_POLL_S = 1.0


class RedisEventBus:
    """Implements `kernel.cluster_events.EventBus`. Owns its client (closed by `close`).
    A subscriber whose connection breaks is cut off (EventsLost) rather than silently
    resubscribed, since events published meanwhile are gone."""

    def __init__(self, client: RedisClient, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._client = client
        self._namespace = namespace
        self._readers: dict[EventQueue, asyncio.Task[None]] = {}

    @classmethod
    def connect(cls, url: str, *, cluster: bool = False, namespace: str = DEFAULT_NAMESPACE) -> RedisEventBus:
        return cls(connect(url, cluster=cluster), namespace)

    async def publish(self, event: ClusterEvent) -> None:
        payload = json.dumps({"topic": event.topic, "payload": dict(event.payload)})
        with redis_boundary("cluster event publish"):
            await self._client.spublish(event_channel(event.topic, self._namespace), payload)

    async def subscribe(self, topics: Sequence[str], max_pending: int) -> EventQueue:
        queue = EventQueue(topics, max_pending, self._forget)
        subscription = ShardedSubscription(self._client)
        try:
            with redis_boundary("cluster event subscribe"):
                await subscription.subscribe(
                    *(event_channel(t, self._namespace) for t in sorted(set(topics)))
                )
        except BaseException:
            await subscription.aclose()
            raise
        self._readers[queue] = asyncio.create_task(self._read(subscription, queue), name="cluster-events")
        return queue

    async def close(self) -> None:
        readers = list(self._readers.values())
        for queue in list(self._readers):
            queue.close()  # cancels its reader
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._readers.clear()
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._client.aclose()

    def _forget(self, queue: EventQueue) -> None:
        task = self._readers.pop(queue, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _read(self, subscription: ShardedSubscription, queue: EventQueue) -> None:
        try:
            while True:
                message = await subscription.next_message(LISTEN_POLL_S)
                event = None if message is None else _decode(message[1])
                if event is not None:
                    queue.push(event)
        except (redis_errors.RedisError, OSError, HubbubError):
            log.warning("cluster events: subscription lost", exc_info=True)
            queue.cut_off()
        finally:
            await subscription.aclose()


def _decode(data: str) -> ClusterEvent | None:
    try:
        body = json.loads(data)
        return ClusterEvent(str(body["topic"]), {str(k): str(v) for k, v in body["payload"].items()})
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("cluster events: undecodable event dropped")
        return None
