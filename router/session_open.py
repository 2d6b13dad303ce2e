"""Opening presence snapshots, batched: sessions opened since the worker last woke share ONE
watch-list call and ONE Presence.Query (a reconnect storm opens thousands at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence

from kernel.clock import Clock
from router.frames import Origin

log = logging.getLogger(__name__)

FetchWatchLists = Callable[[list[str]], Awaitable[dict[str, list[str]]]]
FetchStatuses = Callable[[list[str]], Awaitable[dict[str, bytes]]]
Reply = Callable[[Origin, bytes], None]


class WatchListCache:
    """user -> whose presence they see, kept `ttl_s` seconds (bounded LRU), fetched in bulk."""

    def __init__(self, fetch: FetchWatchLists, clock: Clock, *, ttl_s: float, capacity: int) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()

    def invalidate(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._entries.pop(user_id, None)

    async def get_many(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """Cached entries as they are; all the missing ones in one fetch."""
        now = self._clock.monotonic()
        found: dict[str, list[str]] = {}
        missing: list[str] = []
        for user_id in dict.fromkeys(user_ids):
            entry = self._entries.get(user_id)
            if entry is not None and now - entry[0] < self._ttl_s:
                found[user_id] = entry[1]
            else:
                missing.append(user_id)
        if missing:
            fetched = await self._fetch(missing)
            for user_id, watched in fetched.items():
                found[user_id] = watched
                self._entries[user_id] = (now, watched)
                self._entries.move_to_end(user_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return found


class SessionOpenBatcher:
    """Wakes when sessions open and takes whatever accumulated meanwhile, one batch at a time:
    while a batch's calls are in flight the next batch gathers, so calls grow with the load
    instead of multiplying with it. No timer: a lone session goes at once."""

    def __init__(self, watch_lists: WatchListCache, statuses: FetchStatuses, reply: Reply) -> None:
        self._watch_lists = watch_lists
        self._statuses = statuses
        self._reply = reply
        self._pending: list[Origin] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches_run = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="router-session-open")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

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
