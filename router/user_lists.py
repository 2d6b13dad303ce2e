"""A short-lived, bounded cache of per-user lists of users (who sees a user's presence, whose
presence a user sees), filled in bulk: every missing user in one fetch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from kernel.clock import Clock

# Users -> their lists. A user missing from the answer is not cached (asked again next time).
FetchUserLists = Callable[[list[str]], Awaitable[dict[str, list[str]]]]


class UserListCache:
    """user -> list of users, kept `ttl_s` seconds (bounded LRU)."""

    def __init__(self, fetch: FetchUserLists, clock: Clock, *, ttl_s: float, capacity: int) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()

    def invalidate(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self._entries.pop(user_id, None)

    async def get_many(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """Fresh cached entries as they are; all the missing ones in one fetch."""
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
            for user_id, users in (await self._fetch(missing)).items():
                found[user_id] = users
                self._entries[user_id] = (now, users)
                self._entries.move_to_end(user_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return found
