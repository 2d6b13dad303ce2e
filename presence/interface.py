"""The presence backend contract: one small interface, one module per backend
(presence/memory.py, presence/redis_backend.py; docs/redis.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from presence.model import EdgeReport, ReportAck, UserPresence


class ChangeStream(Protocol):
    """A live subscription to debounced changes, delivered in batches.

    Iteration raises `presence.subscription.SlowWatcher` once the subscriber fell too far
    behind (its buffer is bounded), and ends when the backend closes."""

    def __aiter__(self) -> AsyncIterator[Sequence[UserPresence]]: ...

    def close(self) -> None:
        """Unsubscribe; idempotent."""


class PresenceBackend(Protocol):
    async def report(self, report: EdgeReport) -> ReportAck:
        """Apply an edge's batch and renew its lease; publish what changed at once.
        Says when it was applied, and whether the edge must resend a full snapshot."""

    async def query(self, user_ids: Sequence[str]) -> list[UserPresence]:
        """Debounced status per user, in order; unknown users are offline, last seen 0."""

    async def subscribe(self, max_pending: int) -> ChangeStream:
        """Every change from now on (it returns once the subscription is live).
        `max_pending` bounds the changes buffered for a subscriber that reads slowly."""

    async def expire(self) -> int | None:
        """Apply lapsed leases and passed debounce deadlines, publishing the changes.
        Returns when (ms, the backend's clock) to call again at the latest, or None
        when nothing is due until the next report."""

    async def close(self) -> None:
        """End every subscription and release resources."""
