"""The durable push notifier: `notify` (called by the router's PushQueue, off the ack path)
commits notifications to the durable queue; a background task turns them into one delivery
per registered device and sends each through its service's sender, with collapse, per-user
rate limits, backoff and removal of targets the service reports gone (docs/push.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from kernel.background import BackgroundTask
from kernel.push_targets import PushService, PushTarget, PushTargetReader
from kernel.token_bucket import BucketTable, Rate
from router.push import PushNotification
from router.push.config import PushConfig
from router.push.durable_queue import DurablePushQueue
from router.push.rules import Delivery, SendResult, Verdict, content_of, next_attempt_ms
from router.push.sender import PushSender

log = logging.getLogger(__name__)

EXPAND_BATCH = 500
SEND_BATCH = 500
IDLE_WAKE_MS = 60_000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class DurablePushNotifier:
    """A `PushNotifier` over a `DurablePushQueue`. `senders` maps each configured service to
    its sender; a target of a service with no sender is left queued (logged once per pass)."""

    def __init__(
        self,
        queue: DurablePushQueue,
        targets: PushTargetReader,
        senders: Mapping[PushService, PushSender],
        config: PushConfig | None = None,
        *,
        now_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self._queue = queue
        self._targets = targets
        self._senders = dict(senders)
        self._config = config or PushConfig()
        self._now_ms = now_ms
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("router-push-dispatch", self._run)
        self._rate = BucketTable[str](
            Rate(self._config.push_user_burst, self._config.push_user_rate_per_minute / 60.0)
        )
        self._slots = asyncio.Semaphore(self._config.push_max_in_flight)
        self.sent = 0
        self.gone = 0
        self.dropped = 0

    async def start(self) -> None:
        await self._queue.open()
        self._worker.start()
        self._wake.set()  # what a previous process left queued goes first

    async def stop(self) -> None:
        await self._worker.stop()
        for sender in self._senders.values():
            await sender.close()
        await self._queue.close()

    async def notify(self, notifications: Sequence[PushNotification]) -> None:
        if notifications:
            await self._queue.add(notifications)
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.drain_once()
            except Exception:  # a broken store or sender must not stop later pushes
                log.exception("push dispatch pass failed; retrying")
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        due = await self._queue.next_due_ms()
        wait_ms = IDLE_WAKE_MS if due is None else max(0, due - self._now_ms())
        if wait_ms > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_ms / 1000):
                    await self._wake.wait()
        self._wake.clear()

    async def drain_once(self) -> None:
        """One pass: expand what is pending, send what is due (tests call it directly)."""
        while taken := await self._queue.pending(EXPAND_BATCH):
            users = sorted({item.user_id for item, _count in taken})
            await self._queue.expand(taken, await self._targets.push_targets(users), self._now_ms())
        now = self._now_ms()
        due = await self._queue.due(now, SEND_BATCH)
        if not due:
            return
        users = sorted({d.user_id for d in due})
        by_device = {(t.user_id, t.device_id): t for t in await self._targets.push_targets(users)}
        await asyncio.gather(*(self._deliver(d, by_device.get((d.user_id, d.device_id))) for d in due))
        await self._queue.forget_sent_before(now - self._config.push_sent_memory_s * 1000)

    async def _deliver(self, delivery: Delivery, target: PushTarget | None) -> None:
        if target is None:  # the device was deleted since: nothing to send to
            await self._queue.drop(delivery)
            return
        sender = self._senders.get(target.service)
        if sender is None:
            log.warning(
                "push: no %s sender configured; %s/%s waits", target.service, target.user_id, target.device_id
            )
            await self._queue.reschedule(delivery, self._now_ms() + IDLE_WAKE_MS, failed=False)
            return
        now = self._now_ms()
        taken = self._rate.take(delivery.user_id, now)
        if not taken.allowed:
            await self._queue.reschedule(delivery, now + taken.retry_after_ms, failed=False)
            return
        async with self._slots:
            try:
                result = await sender.send(target, content_of(delivery, self._config.content_policy))
            except Exception as exc:  # noqa: BLE001 - a sender's surprise is one failed attempt, never a stuck queue
                log.warning(
                    "push: %s sender failed for %s/%s: %r",
                    target.service,
                    target.user_id,
                    target.device_id,
                    exc,
                )
                result = SendResult(Verdict.RETRY, None, f"sender error: {exc!r}")
        await self._settle(delivery, target, result)

    async def _settle(self, delivery: Delivery, target: PushTarget, result: SendResult) -> None:
        config = self._config
        if result.verdict is Verdict.SENT:
            await self._queue.mark_sent(delivery, self._now_ms())
            self.sent += 1
        elif result.verdict is Verdict.GONE:
            log.info(
                "push: %s target %s/%s is gone (%s)",
                target.service,
                target.user_id,
                target.device_id,
                result.detail,
            )
            await self._targets.remove_gone_push_target(target)
            await self._queue.drop(delivery)
            self.gone += 1
        elif result.verdict is Verdict.RETRY and delivery.attempts + 1 < config.push_max_attempts:
            due = next_attempt_ms(
                delivery.attempts,
                result.retry_after_ms,
                self._now_ms(),
                config.push_retry_base_ms,
                config.push_retry_cap_ms,
            )
            await self._queue.reschedule(delivery, due, failed=True)
        else:
            log.warning(
                "push: dropped for %s/%s (%s %s)",
                target.user_id,
                target.device_id,
                result.verdict,
                result.detail,
            )
            await self._queue.drop(delivery)
            self.dropped += 1
