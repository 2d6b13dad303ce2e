"""The per-conversation ordering engine for sends: batches everything pending for ready
conversations into one call, never two calls in flight for one conversation, results in order.

Generic over the item and outcome types so the invariant is unit-tested with a fake append.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from kernel.grpc_server import MAX_BATCH_BYTES

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class OrderedBatchPipeline(Generic[T, R]):
    """Wakes when work arrives, takes what accumulated, runs up to `max_in_flight` batches at once.

    A conversation is *busy* from the moment its items join a batch until that batch's outcome
    was handed to `deliver` (synchronously), so (a) one conversation never has two batches in
    flight and (b) outcomes for a conversation are delivered in submission order. `deliver` and
    `fail` must not await: whatever they emit is queued before the next batch can start.

    `min_interval_s` paces batch starts: work arriving within that long of the previous start
    waits for the rest of the interval, gathering what else arrives. A lone item after a quiet
    spell goes at once; under load, calls get fewer and larger (each call costs ~0.5 ms of CPU
    however small it is).

    `sender` and `max_pending_per_sender` make the backlog bound per user as well: one user's
    flood fills its own share and gets refused, while other users' items still queue.
    """

    def __init__(
        self,
        *,
        key: Callable[[T], int],
        run_batch: Callable[[list[T]], Awaitable[R]],
        deliver: Callable[[list[T], R], None],
        fail: Callable[[list[T], Exception], None],
        max_in_flight: int = 4,
        max_batch: int = 1000,
        min_interval_s: float = 0.0,
        max_pending: int = 100_000,
        size: Callable[[T], int] | None = None,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        sender: Callable[[T], str] | None = None,
        max_pending_per_sender: int = 0,
    ) -> None:
        self._key = key
        self._run_batch = run_batch
        self._deliver = deliver
        self._fail = fail
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._min_interval_s = min_interval_s
        self._max_pending = max_pending
        self._size = size  # an item's bytes in the call (at most): batches stay below max_batch_bytes
        self._max_batch_bytes = max_batch_bytes
        self._pending_items = 0  # items waiting (not yet in a batch): bounded by max_pending
        self._sender = sender if max_pending_per_sender > 0 else None
        self._max_per_sender = max_pending_per_sender
        self._per_sender: dict[str, int] = {}  # items waiting per sender (only those with some)
        self._last_start = float("-inf")
        self._pending: dict[int, deque[T]] = {}
        self._ready: dict[int, None] = {}  # insertion-ordered set: fair, oldest first
        self._busy: set[int] = set()
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.batches_run = 0

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="router-pipeline")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop_task = None

    def submit(self, item: T) -> bool:
        """Queue `item`; False (nothing queued) when `max_pending` items already wait, so a
        stalled store cannot grow the backlog without bound: the caller answers "retry"."""
        if self._pending_items >= self._max_pending:
            return False
        if self._sender is not None:
            who = self._sender(item)
            waiting = self._per_sender.get(who, 0)
            if waiting >= self._max_per_sender:
                return False
            self._per_sender[who] = waiting + 1
        conversation = self._key(item)
        queue = self._pending.get(conversation)
        if queue is None:
            queue = self._pending[conversation] = deque()
        queue.append(item)
        self._pending_items += 1
        if conversation not in self._busy:
            self._ready[conversation] = None
        self._wake.set()
        return True

    @property
    def pending_count(self) -> int:
        return self._pending_items

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if self._min_interval_s > 0 and self._ready and self._in_flight < self._max_in_flight:
                delay = self._last_start + self._min_interval_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing: let more work join this batch
            self._wake.clear()
            while self._ready and self._in_flight < self._max_in_flight:
                self._last_start = loop.time()
                items, conversations = self._take()
                self._in_flight += 1
                task = asyncio.create_task(self._run(items, conversations))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _take(self) -> tuple[list[T], list[int]]:
        items: list[T] = []
        conversations: list[int] = []
        room = self._max_batch
        room_bytes = self._max_batch_bytes
        size = self._size
        while self._ready and room > 0:
            conversation = next(iter(self._ready))
            queue = self._pending[conversation]
            take = min(room, len(queue))
            start = len(items)
            full = False
            if size is not None:
                # Stop before the call would outgrow the transport; one item always goes.
                for index in range(take):
                    cost = size(queue[index])
                    if cost > room_bytes and (items or index):
                        take, full = index, True
                        break
                    room_bytes -= cost
            if take == 0:
                break  # nothing of it fits: it stays first in line for the next batch
            del self._ready[conversation]
            items.extend(queue.popleft() for _ in range(take))
            if self._sender is not None:
                self._release_senders(items[start:])
            room -= take
            self._pending_items -= take
            if not queue:
                del self._pending[conversation]
            self._busy.add(conversation)
            conversations.append(conversation)
            if full:
                break
        return items, conversations

    def _release_senders(self, taken: list[T]) -> None:
        assert self._sender is not None
        counts = self._per_sender
        for item in taken:
            who = self._sender(item)
            left = counts[who] - 1
            if left:
                counts[who] = left
            else:
                del counts[who]

    async def _run(self, items: list[T], conversations: list[int]) -> None:
        try:
            try:
                outcome = await self._run_batch(items)
            except Exception as exc:  # noqa: BLE001 - the batch failed as a whole: each item gets it
                self._fail(items, exc)
            else:
                self._deliver(items, outcome)
            self.batches_run += 1
        except Exception:
            log.exception("pipeline: delivering a batch failed")
        finally:
            for conversation in conversations:
                self._busy.discard(conversation)
                if conversation in self._pending:
                    self._ready[conversation] = None
            self._in_flight -= 1
            self._wake.set()
