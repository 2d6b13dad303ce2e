"""The Redis presence change feed: batches published once on one sharded channel, and one
subscription per process fanning them out to its local watchers' bounded buffers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from redis import exceptions as redis_errors

from kernel.errors import HubbubError, Unavailable
from kernel.redis_client import RedisClient, ShardedSubscription
from presence.model import UserPresence
from presence.subscription import BoundedChangeQueue

log = logging.getLogger(__name__)

LISTEN_POLL_S = 1.0
RESUBSCRIBE_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)
SUBSCRIBE_WAIT_S = 5.0
"""How long `subscribe` waits for the Redis subscription before it fails (retryable)."""


class RedisChangeFeed:
    """Publishes change batches and keeps one subscription live for every local watcher; when
    it breaks, the watchers are cut off (they may have missed changes, so they resubscribe and
    re-query) and it is made again."""

    def __init__(self, client: RedisClient, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._subscribers: set[BoundedChangeQueue] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def publish(self, changes: Sequence[UserPresence]) -> None:
        if changes:
            payload = json.dumps([[c.user_id, int(c.online), c.last_seen_ms] for c in changes])
            await self._client.spublish(self._channel, payload)

    async def subscribe(self, max_pending: int) -> BoundedChangeQueue:
        queue = BoundedChangeQueue(max_pending, self._subscribers.discard)
        if self._closed:
            queue.close()
            return queue
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="presence-redis-listener")
        try:
            async with asyncio.timeout(SUBSCRIBE_WAIT_S):
                await self._listening.wait()
        except TimeoutError as exc:
            raise Unavailable("presence: redis subscription not live") from exc
        self._subscribers.add(queue)
        return queue

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        for queue in list(self._subscribers):
            queue.close()

    async def _listen(self) -> None:
        failures = 0
        while True:
            subscription = ShardedSubscription(self._client)
            try:
                await subscription.subscribe(self._channel)
                self._listening.set()
                failures = 0
                while True:
                    message = await subscription.next_message(LISTEN_POLL_S)
                    if message is not None:
                        self._deliver(message[1])
            except (redis_errors.RedisError, OSError, HubbubError):
                log.warning("presence: redis subscription lost; resubscribing", exc_info=True)
            except Exception:  # a bug must not end the feed for good: log it, start over
                log.exception("presence: redis listener failed; resubscribing")
            finally:
                self._listening.clear()
                await subscription.aclose()
            for queue in list(self._subscribers):
                queue.cut_off()
            await asyncio.sleep(RESUBSCRIBE_BACKOFF_S[min(failures, len(RESUBSCRIBE_BACKOFF_S) - 1)])
            failures += 1

    def _deliver(self, payload: str) -> None:
        try:
            batch = tuple(UserPresence(u, bool(on), int(seen)) for u, on, seen in json.loads(payload))
        except (ValueError, TypeError):
            log.warning("presence: undecodable change batch on %s", self._channel)
            return
        for queue in list(self._subscribers):
            queue.push(batch)
