"""A bounded buffer between a publisher that never waits and one slow-or-fast reader: the
reader that falls too far behind is cut off with a retryable error (it resubscribes and
resyncs) instead of growing memory. Presence watchers and cluster events both use it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from kernel.errors import HubbubError

T = TypeVar("T")


class BoundedStream(Generic[T]):
    """Bounded by the items' `weight` (1 each by default). An item into an empty buffer is
    always taken, so the bound is `max_pending` plus one item."""

    def __init__(
        self,
        max_pending: int,
        on_close: Callable[[BoundedStream[T]], None],
        lost: Callable[[], HubbubError],
        weight: Callable[[T], int] = lambda _: 1,
    ) -> None:
        if max_pending <= 0:
            raise ValueError("max_pending must be positive")
        self._max_pending = max_pending
        self._on_close = on_close
        self._lost_error = lost
        self._weight = weight
        self._items: deque[T] = deque()
        self._pending = 0
        self._ready = asyncio.Event()
        self._lost = False
        self._closed = False

    def push(self, item: T) -> None:
        """Called by the publisher; never blocks. Overflow drops the buffer and ends the stream."""
        if self._closed or self._lost:
            return
        weight = self._weight(item)
        if self._pending and self._pending + weight > self._max_pending:
            self.cut_off()
            return
        self._pending += weight
        self._items.append(item)
        self._ready.set()

    @property
    def lost(self) -> bool:
        """Cut off (overflow, or the publisher's feed broke): iterating raises the lost error."""
        return self._lost

    def cut_off(self) -> None:
        """End the stream with the `lost` error: the reader missed items (overflow, or the
        publisher's feed broke), so it must resubscribe and resync."""
        if self._closed or self._lost:
            return
        self._lost = True
        self._items.clear()
        self._pending = 0
        self._on_close(self)
        self._ready.set()

    def close(self) -> None:
        """Unsubscribe; idempotent. The reader gets what is buffered, then the end."""
        if not self._closed:
            self._closed = True
            self._on_close(self)
            self._ready.set()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            if self._items:
                item = self._items.popleft()
                self._pending -= self._weight(item)
                yield item
                continue
            if self._lost:
                raise self._lost_error()
            if self._closed:
                return
            self._ready.clear()
            await self._ready.wait()
