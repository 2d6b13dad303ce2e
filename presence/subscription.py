"""A bounded buffer of change batches for one subscriber: backends push without
waiting, a slow reader is cut off (it reconnects) rather than growing memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kernel.bounded_stream import BoundedStream
from kernel.errors import ErrorCode, HubbubError
from presence.model import UserPresence


class SlowWatcher(HubbubError):
    """The subscriber fell more than its buffer behind; it should reconnect and re-query."""

    code = ErrorCode.SLOW_CONSUMER
    retryable = True


class BoundedChangeQueue(BoundedStream[Sequence[UserPresence]]):
    """Implements `presence.interface.ChangeStream`. Bounded by changes, not batches,
    so a huge batch counts for what it holds (an edge's restart snapshot may bring more
    changes than the bound: into an empty buffer it is still taken). A backend whose feed
    broke calls `cut_off`, which ends the stream with SlowWatcher as an overflow does."""

    def __init__(self, max_pending: int, on_close: Callable[[BoundedChangeQueue], None]) -> None:
        super().__init__(
            max_pending,
            lambda _: on_close(self),
            lambda: SlowWatcher("presence watcher fell behind; reconnect"),
            weight=len,
        )

    def push(self, item: Sequence[UserPresence]) -> None:
        if item:
            super().push(item)
