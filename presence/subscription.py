"""A bounded buffer of change batches for one subscriber: backends push without
waiting, a slow reader is cut off (it reconnects) rather than growing memory."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from kernel.errors import ErrorCode, HubbubError
from presence.model import UserPresence


class SlowWatcher(HubbubError):
    """The subscriber fell more than its buffer behind; it should reconnect and re-query."""

    code = ErrorCode.SLOW_CONSUMER
    retryable = True


class BoundedChangeQueue:
    """Implements `presence.interface.ChangeStream`. Bounded by changes, not batches,
    so a huge batch counts for what it holds."""

    def __init__(self, max_pending: int, on_close: Callable[[BoundedChangeQueue], None]) -> None:
        if max_pending <= 0:
            raise ValueError("max_pending must be positive")
        self._max_pending = max_pending
        self._on_close = on_close
        self._batches: deque[Sequence[UserPresence]] = deque()
        self._pending = 0
        self._ready = asyncio.Event()
        self._overflowed = False
        self._closed = False

    def push(self, batch: Sequence[UserPresence]) -> None:
        """Called by the backend; never blocks. Overflow drops the buffer and ends the stream."""
        if self._closed or self._overflowed or not batch:
            return
        # A batch into an empty buffer is always taken (an edge's restart snapshot may
        # bring more changes than the bound); so the bound is max_pending plus one batch.
        if self._pending and self._pending + len(batch) > self._max_pending:
            self.cut_off()
            return
        self._pending += len(batch)
        self._batches.append(batch)
        self._ready.set()

    def cut_off(self) -> None:
        """The backend's feed broke and changes may be lost: end with SlowWatcher, so the
        reader resubscribes and re-queries, as after an overflow."""
        if self._closed or self._overflowed:
            return
        self._overflowed = True
        self._batches.clear()
        self._pending = 0
        self._on_close(self)
        self._ready.set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close(self)
            self._ready.set()

    def __aiter__(self) -> AsyncIterator[Sequence[UserPresence]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Sequence[UserPresence]]:
        while True:
            if self._batches:
                batch = self._batches.popleft()
                self._pending -= len(batch)
                yield batch
                continue
            if self._overflowed:
                raise SlowWatcher("presence watcher fell behind; reconnect")
            if self._closed:
                return
            self._ready.clear()
            await self._ready.wait()
