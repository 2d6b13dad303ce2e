"""Cluster events (kick a device, a config change): a tiny publish/subscribe interface every
room may use, and its in-process backend. The Redis one is kernel/redis_events.py.

Events are best-effort notices, never data: a subscriber whose feed breaks or who falls behind
is cut off with a retryable error and resubscribes, then re-reads whatever state the event was
about (no message ever travels through events alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kernel.bounded_stream import BoundedStream
from kernel.errors import ErrorCode, HubbubError

KICK_DEVICE = "kick-device"
"""payload: user_id, device_id. The edge holding that device closes its sessions."""
LOG_OUT_EVERYWHERE = "log-out-everywhere"
"""payload: user_id, generation (the user's token generation after it), edge_id (the edge that
took it). Every other edge closes the user's sessions it holds (edge/revocations.py); a lost
event is covered by the token check, which refuses the revoked tokens at their next check."""
CONFIG_CHANGED = "config-changed"
"""payload: room, and the changed options by name. Processes of that room re-read them."""


class EventsLost(HubbubError):
    """The subscription's feed broke or it fell behind: resubscribe and resync."""

    code = ErrorCode.SLOW_CONSUMER
    retryable = True


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    topic: str
    payload: Mapping[str, str] = field(default_factory=dict)


class EventStream(Protocol):
    """Iteration yields events in publish order (per topic); raises EventsLost when cut off,
    ends when closed."""

    def __aiter__(self) -> AsyncIterator[ClusterEvent]: ...

    def close(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, event: ClusterEvent) -> None:
        """Deliver to every live subscriber of the topic (in any process), at most once."""

    async def subscribe(self, topics: Sequence[str], max_pending: int) -> EventStream:
        """Events of `topics` from now on; returns once the subscription is live."""

    async def close(self) -> None:
        """End every subscription and release resources."""


class EventQueue(BoundedStream[ClusterEvent]):
    """Implements EventStream: a bounded buffer (kernel.bounded_stream) of the events of
    `topics`, which the bus pushes into without waiting."""

    def __init__(self, topics: Sequence[str], max_pending: int, on_close: Callable[[EventQueue], None]):
        super().__init__(
            max_pending, lambda _: on_close(self), lambda: EventsLost("cluster events lost; resubscribe")
        )
        self.topics = frozenset(topics)

    def push(self, item: ClusterEvent) -> None:
        if item.topic in self.topics:
            super().push(item)


class MemoryEventBus:
    """Implements EventBus within one process (the single-node default)."""

    def __init__(self) -> None:
        self._queues: set[EventQueue] = set()

    async def publish(self, event: ClusterEvent) -> None:
        for queue in list(self._queues):
            queue.push(event)

    async def subscribe(self, topics: Sequence[str], max_pending: int) -> EventQueue:
        queue = EventQueue(topics, max_pending, self._queues.discard)
        self._queues.add(queue)
        return queue

    async def close(self) -> None:
        for queue in list(self._queues):
            queue.close()
