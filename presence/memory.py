"""The in-memory presence backend (the single-node default): the rules over one
process-local state, changes fanned out to bounded subscriber queues."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.clock import Clock
from presence import metrics as presence_metrics
from presence.model import EdgeReport, ReportAck, UserPresence
from presence.rules import (
    DEFAULT_DEBOUNCE_MS,
    PresenceState,
    apply_report,
    expire,
    needs_resync,
    next_deadline,
    statuses,
)
from presence.subscription import BoundedChangeQueue


class MemoryPresence:
    """Implements `presence.interface.PresenceBackend`. Nothing here awaits, so each call
    runs to completion on the event loop and the state needs no lock."""

    def __init__(self, clock: Clock, debounce_ms: int = DEFAULT_DEBOUNCE_MS) -> None:
        if debounce_ms < 0:
            raise ValueError("debounce_ms must not be negative")
        self._clock = clock
        self._state = PresenceState(debounce_ms=debounce_ms)
        self._subscribers: set[BoundedChangeQueue] = set()

    async def report(self, report: EdgeReport) -> ReportAck:
        now = self._clock.now_ms()
        resync = needs_resync(self._state, report, now)
        self._state, changes = apply_report(self._state, report, now)
        self._publish(changes)
        return ReportAck(now, resync)

    async def query(self, user_ids: Sequence[str]) -> list[UserPresence]:
        return statuses(self._state, user_ids, self._clock.now_ms())

    async def subscribe(self, max_pending: int) -> BoundedChangeQueue:
        queue = BoundedChangeQueue(max_pending, self._subscribers.discard)
        self._subscribers.add(queue)
        return queue

    async def expire(self) -> int | None:
        self._state, changes = expire(self._state, self._clock.now_ms())
        self._publish(changes)
        return next_deadline(self._state)

    async def close(self) -> None:
        for queue in list(self._subscribers):
            queue.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _publish(self, changes: Sequence[UserPresence]) -> None:
        if not changes:
            return
        batch = tuple(changes)  # one immutable batch shared by every subscriber
        for change in batch:
            presence_metrics.changes("online" if change.online else "offline").inc()
        for queue in list(self._subscribers):
            queue.push(batch)
