"""The sweep of uploads never sent: an object that no stored message points to, a grace
period after it was stored, is removed. The rule is pure (the clock passed in); the task walks
the store, asks messaging (media.references) and deletes through `BlobStore.delete`."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable

from kernel.background import BackgroundTask
from kernel.blob_store import ListedStore, StoredObject
from kernel.clock import Clock
from kernel.errors import HubbubError
from kernel.limits import MEDIA_CLOCK_SKEW_MS
from kernel.media_urls import key_owner
from media.references import MediaReferences

log = logging.getLogger(__name__)

MAX_CANDIDATES = 10_000
"""Objects held in memory at once: a pass judges the listing this many at a time (so a bucket
whose first objects are all sent ones is still walked to its end)."""


def past_grace(stored: StoredObject, now_ms: int, grace_ms: int) -> bool:
    """Old enough to be swept if nothing points to it."""
    return now_ms - stored.stored_at_ms >= grace_ms


def sweepable(
    objects: Iterable[StoredObject], referenced: Collection[str], now_ms: int, grace_ms: int
) -> list[str]:
    """Keys to remove: past the grace period, pointed to by no stored message, and named as
    hubbub names its uploads (an object of anyone else's in a shared bucket is never touched)."""
    return [
        stored.key
        for stored in objects
        if past_grace(stored, now_ms, grace_ms) and stored.key not in referenced and _is_media_key(stored.key)
    ]


def _is_media_key(key: str) -> bool:
    try:
        key_owner(key)
    except HubbubError:
        return False
    return True


async def sweep_once(store: ListedStore, references: MediaReferences, now_ms: int, grace_ms: int) -> int:
    """One pass over the whole listing; returns how many objects it removed. A conversation
    whose references cannot be read (messaging down, the uploader no longer a member) keeps
    all its objects."""
    chunk: list[StoredObject] = []
    removed = 0
    async for stored in store.stored_objects():
        if past_grace(stored, now_ms, grace_ms) and _is_media_key(stored.key):
            chunk.append(stored)
            if len(chunk) >= MAX_CANDIDATES:
                removed += await _sweep_chunk(store, references, chunk, now_ms, grace_ms)
                chunk = []
    return removed + await _sweep_chunk(store, references, chunk, now_ms, grace_ms)


async def _sweep_chunk(
    store: ListedStore, references: MediaReferences, chunk: list[StoredObject], now_ms: int, grace_ms: int
) -> int:
    groups: defaultdict[tuple[int, str], list[StoredObject]] = defaultdict(list)
    for stored in chunk:
        groups[key_owner(stored.key)].append(stored)
    removed = 0
    for (conversation_id, uploader), objects in groups.items():
        since_ms = min(stored.stored_at_ms for stored in objects) - MEDIA_CLOCK_SKEW_MS
        keys = [stored.key for stored in objects]
        try:
            referenced = await references.referenced(conversation_id, uploader, keys, since_ms)
        except HubbubError as exc:
            log.info("media sweep: kept %d objects of conversation %d: %s", len(keys), conversation_id, exc)
            continue
        for key in sweepable(objects, referenced, now_ms, grace_ms):
            removed += await store.delete(key)
    return removed


class MediaSweep:
    """The periodic task: a pass every `interval_s`, the first one an interval after start."""

    def __init__(
        self, store: ListedStore, references: MediaReferences, clock: Clock, grace_s: float, interval_s: float
    ) -> None:
        self._store, self._references, self._clock = store, references, clock
        self._grace_ms = int(grace_s * 1000)
        self._interval_s = interval_s
        self._task = BackgroundTask("media-sweep", self._run)

    def start(self) -> None:
        if self._interval_s > 0:
            self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)  # a timer, not a stand-in for an event
            try:
                now_ms = self._clock.now_ms()
                removed = await sweep_once(self._store, self._references, now_ms, self._grace_ms)
            except HubbubError as exc:  # the store unreachable: try again next interval
                log.warning("media sweep failed: %s", exc)
                continue
            if removed:
                log.info("media sweep removed %d unsent uploads", removed)
