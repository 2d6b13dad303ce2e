"""Opening presence snapshots, batched: sessions opened since the worker last woke share ONE
watch-list call and ONE Presence.Query (a reconnect storm opens thousands at once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from kernel.background import BackgroundTask
from router.frames import Origin
from router.user_lists import UserListCache

log = logging.getLogger(__name__)

FetchStatuses = Callable[[list[str]], Awaitable[dict[str, bytes]]]
Reply = Callable[[Origin, bytes], None]


class SessionOpenBatcher:
    """Wakes when sessions open and takes whatever accumulated meanwhile, one batch at a time:
    while a batch's calls are in flight the next batch gathers, so calls grow with the load
    instead of multiplying with it. No timer: a lone session goes at once."""

    def __init__(self, watch_lists: UserListCache, statuses: FetchStatuses, reply: Reply) -> None:
        self._watch_lists = watch_lists
        self._statuses = statuses
        self._reply = reply
        self._pending: list[Origin] = []
        self._wake = asyncio.Event()
        self._worker = BackgroundTask("router-session-open", self._loop)
        self.batches_run = 0

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()

    def submit(self, origin: Origin) -> None:
        self._pending.append(origin)
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self.run_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a snapshot is best effort: log and go on
                log.warning("presence snapshot for %d opened sessions failed: %r", len(batch), exc)
            self.batches_run += 1

    async def run_batch(self, origins: Sequence[Origin]) -> None:
        """The current status of everyone each session's user watches, to that session."""
        lists = await self._watch_lists.get_many(origin.user_id for origin in origins)
        union: dict[str, None] = {}
        for watched in lists.values():
            union.update(dict.fromkeys(watched))
        if not union:
            return
        frames = await self._statuses(list(union))
        for origin in origins:
            for user_id in lists.get(origin.user_id, ()):
                frame = frames.get(user_id)
                if frame is not None:
                    self._reply(origin, frame)
