"""Is a correctly signed token still good: does its user exist, and was it issued at the
user's current token generation ("log out everywhere" bumps it)? The answer comes from
Accounts, cached per user for a short TTL and fetched in batches, so a reconnect storm costs
a few calls (one per batch of up to 1,000 users), not one per connect."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from kernel.clock import Clock
from kernel.errors import Unavailable
from kernel.limits import MAX_BATCH_USERS

log = logging.getLogger(__name__)

# The generations of these users (absent = no such user), in one Accounts call.
Fetch = Callable[[list[str]], Awaitable[dict[str, int]]]

MISSING = -1  # cached: no such user


class TokenGenerations:
    """Per-user token generations, cached `ttl_ms` (LRU, `capacity` users). A revocation made
    through this edge updates the cache at once; one made through another edge is seen here
    within `ttl_ms` (and that edge closes the user's sessions it holds)."""

    def __init__(self, fetch: Fetch, clock: Clock, *, ttl_ms: int, capacity: int) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, int]] = OrderedDict()  # user -> (generation, at ms)
        self._queued: list[str] = []
        self._waiting: dict[str, asyncio.Future[int | None]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self.fetches = 0  # Accounts calls made (observability, tests)

    def cached(self, user_id: str) -> int | None:
        """The fresh cached generation (MISSING: no such user), or None when it must be fetched."""
        entry = self._entries.get(user_id)
        if entry is None or self._clock.now_ms() - entry[1] >= self._ttl_ms:
            return None
        return entry[0]

    async def current(self, user_id: str) -> int:
        """The user's generation (MISSING: no such user); Unavailable if Accounts is not."""
        cached = self.cached(user_id)
        if cached is not None:
            return cached
        future = self._waiting.get(user_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[user_id] = future
            self._queued.append(user_id)
            if self._flusher is None or self._flusher.done():
                # Started on the next loop turn: the hellos read meanwhile join this batch.
                self._flusher = asyncio.get_running_loop().create_task(self._flush())
        generation = await asyncio.shield(future)
        if generation is None:
            raise Unavailable("cannot check the token now, retry")
        return generation

    def revoked(self, user_id: str, generation: int) -> None:
        """This edge revoked the user's tokens: `generation` is current from now on."""
        self._store(user_id, generation)

    def learned(self, user_id: str, generation: int) -> None:
        """A log-in or sign-up here just issued a token at `generation`: the user exists, and
        a reconnect with that token soon after needs no call."""
        self._store(user_id, generation)

    def _store(self, user_id: str, generation: int) -> None:
        entry = self._entries.get(user_id)
        if entry is not None and entry[0] > generation:
            generation = entry[0]  # a fetch that started before a revocation never undoes it
        self._entries[user_id] = (generation, self._clock.now_ms())
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[:MAX_BATCH_USERS], self._queued[MAX_BATCH_USERS:]
            try:
                found = await self._fetch(batch)
                self.fetches += 1
            except Exception as exc:  # noqa: BLE001 - every waiting hello must get an answer
                log.warning("token generations of %d users unavailable: %r", len(batch), exc)
                for user_id in batch:
                    self._resolve(user_id, None)
                continue
            for user_id in batch:
                self._store(user_id, found.get(user_id, MISSING))
                self._resolve(user_id, self._entries[user_id][0])

    def _resolve(self, user_id: str, generation: int | None) -> None:
        future = self._waiting.pop(user_id, None)
        if future is not None and not future.done():
            future.set_result(generation)
