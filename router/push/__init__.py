"""Offline push notifications: the notifier interface, a logging and a memory backend, and the
bounded queue + background task that keeps notifiers off the sender's ack path. The durable
queue and the FCM, APNs and Web Push senders are the modules beside this one (docs/push.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import orjson

from kernel.background import BackgroundTask
from kernel.log_limit import LogAtMostEvery
from kernel.token_bucket import BucketTable, Rate
from protos import client_pb2

log = logging.getLogger(__name__)

PREVIEW_CHARS = 100
WARNING_INTERVAL_MS = 10_000
OPAQUE_PREVIEW = "New message"


@dataclass(frozen=True, slots=True)
class PushNotification:
    user_id: str
    conversation_id: int
    seq: int
    message_id: int
    sender_id: str
    preview: str
    encrypted: bool = False
    """The body is end-to-end encrypted: a push carries nothing but ids (docs/push.md)."""


def preview_of(message: client_pb2.Message) -> str:
    """First 100 characters of the body; a fixed text for opaque (encrypted) payloads."""
    if message.body:
        return message.body[:PREVIEW_CHARS]
    return OPAQUE_PREVIEW


class PushNotifier(Protocol):
    async def notify(self, notifications: Sequence[PushNotification]) -> None: ...


class LogPushNotifier:
    """Logs each notification (at debug; one info line per batch), and appends it as one JSON
    line to `path` when given."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    async def notify(self, notifications: Sequence[PushNotification]) -> None:
        if notifications:
            log.info("push: %d notifications", len(notifications))
        if log.isEnabledFor(logging.DEBUG):
            for item in notifications:
                log.debug(
                    "push: %s <- %s in %d #%d", item.user_id, item.sender_id, item.conversation_id, item.seq
                )
        if self._path is not None and notifications:
            lines = b"".join(orjson.dumps(asdict(item)) + b"\n" for item in notifications)
            await asyncio.to_thread(self._append, lines)

    def _append(self, lines: bytes) -> None:
        assert self._path is not None
        with self._path.open("ab") as handle:
            handle.write(lines)


class MemoryPushNotifier:
    """Records notifications; tests await a count instead of sleeping."""

    def __init__(self) -> None:
        self.notifications: list[PushNotification] = []
        self._changed = asyncio.Condition()

    async def notify(self, notifications: Sequence[PushNotification]) -> None:
        async with self._changed:
            self.notifications.extend(notifications)
            self._changed.notify_all()

    async def wait_for(self, count: int) -> list[PushNotification]:
        """Wait until at least `count` notifications arrived (wrap in asyncio.timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.notifications) >= count)
            return list(self.notifications)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class PushQueue:
    """Bounded hand-off to a notifier. Never blocks the caller: on overflow the oldest waiting
    notifications are dropped (and counted), since a fresher push supersedes a stale one.

    With `collapse_window_ms`, a user gets at most one push per conversation within that window
    (a token bucket per (user, conversation)); the rest are counted in `collapsed`. A flood into
    a 500-member group then costs one push per offline member per window, not one per message.
    """

    def __init__(
        self,
        notifier: PushNotifier,
        *,
        limit: int = 10_000,
        batch: int = 500,
        collapse_window_ms: int = 0,
        now_ms: Callable[[], int] = _monotonic_ms,
    ) -> None:
        self.notifier = notifier
        self._queue: deque[PushNotification] = deque()
        self._limit = limit
        self._batch = batch
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("router-push", self._run)
        self._now_ms = now_ms
        self._recent = (
            BucketTable[tuple[str, int]](Rate(1, 1000 / collapse_window_ms), capacity=max(limit, 100_000))
            if collapse_window_ms > 0
            else None
        )
        self._queue_full = LogAtMostEvery(log, WARNING_INTERVAL_MS, now_ms)
        self.dropped = 0
        self.collapsed = 0

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()

    def put_many(self, notifications: Sequence[PushNotification]) -> None:
        if not notifications:
            return
        if self._recent is not None:
            now = self._now_ms()
            recent = self._recent
            kept = [n for n in notifications if recent.take((n.user_id, n.conversation_id), now).allowed]
            self.collapsed += len(notifications) - len(kept)
            notifications = kept
            if not notifications:
                return
        self._queue.extend(notifications)
        overflow = len(self._queue) - self._limit
        if overflow > 0:
            for _ in range(overflow):
                self._queue.popleft()
            self.dropped += overflow
            self._queue_full.warning("push queue full: dropped %d oldest (total %d)", overflow, self.dropped)
        self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                take = min(self._batch, len(self._queue))
                chunk = [self._queue.popleft() for _ in range(take)]
                try:
                    await self.notifier.notify(chunk)
                except Exception:  # a broken notifier must not stop later pushes
                    log.exception("push notifier failed; %d notifications lost", len(chunk))
