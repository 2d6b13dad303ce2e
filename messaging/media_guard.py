"""Keeps a deletion's removal of an attachment's object apart from a send attaching the same
upload, in the process that appends the conversation's messages (messaging, or the router
owning its partition): a send never acks pointing to an object that is gone.

An upload may be attached again while its receipt is good (an hour); a deletion removes its
object only when no other message points to it (messaging/erased_media.py). Before that
reference search the key is marked removed: a new send attaching it from then on is refused
NOT_FOUND (upload it again; a retry of one stored before is still answered with it, dedupe
first), and the search waits for the appends already storing a send that attaches it. The
mark lasts until no receipt for the key can still be good, or is lifted when the object is
kept. Past MAX_REMOVED marks an object is left to the media sweep instead (docs/media.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from kernel.clock import Clock

MAX_REMOVED = 10_000
"""Keys marked removed at once; beyond, a deleted message's object is left to the sweep."""


class MediaGuard:
    def __init__(self, clock: Clock, max_removed: int = MAX_REMOVED) -> None:
        self._clock = clock
        self._max_removed = max_removed
        self._removed: dict[str, int] = {}  # key -> until when no new send may attach it (ms)
        self._attaching: dict[str, int] = {}  # key -> appends now storing a send attaching it
        self._settled: dict[str, asyncio.Event] = {}  # key -> set once none is

    def refused(self, key: str) -> bool:
        """May a new send not attach `key` (its object is being removed, or was)?"""
        until = self._removed.get(key)
        if until is None:
            return False
        if until < self._clock.now_ms():
            del self._removed[key]
            return False
        return True

    @contextmanager
    def attaching(self, keys: Collection[str]) -> Iterator[None]:
        """While an append stores sends attaching `keys` (enter it in the same step as the
        `refused` checks, with no await between, so no removal starts in the gap)."""
        attaching = self._attaching
        for key in keys:
            attaching[key] = attaching.get(key, 0) + 1
        try:
            yield
        finally:
            for key in keys:
                left = attaching[key] - 1
                if left:
                    attaching[key] = left
                    continue
                del attaching[key]
                settled = self._settled.pop(key, None)
                if settled is not None:
                    settled.set()

    def remove(self, key: str, until_ms: int) -> bool:
        """Mark `key` removed until `until_ms` (when every receipt for it has expired); False
        when MAX_REMOVED keys are marked (its object is then left to the sweep)."""
        if key not in self._removed and len(self._removed) >= self._max_removed:
            now = self._clock.now_ms()
            self._removed = {k: until for k, until in self._removed.items() if until >= now}
            if len(self._removed) >= self._max_removed:
                return False
        self._removed[key] = max(until_ms, self._removed.get(key, 0))
        return True

    def keep(self, key: str) -> None:
        """The object stays after all (another message points to it): sends may attach it."""
        self._removed.pop(key, None)

    async def settled(self, key: str) -> None:
        """Returns once no append is storing a send that attaches `key`."""
        if key not in self._attaching:
            return
        settled = self._settled.get(key)
        if settled is None:
            settled = self._settled[key] = asyncio.Event()
        await settled.wait()
