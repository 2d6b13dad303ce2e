"""Named locks for concurrent commits: a commit holds every name it touches (its conversations,
its dedupe keys; a cursor update its cursors), taken in one order so two commits never wait
on each other in a cycle. A lock lives only while someone holds or waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager


class CommitLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}  # holders and waiters of each lock

    def __len__(self) -> int:
        """Locks alive (held or waited for)."""
        return len(self._locks)

    def held(self, name: Hashable) -> bool:
        """Someone holds or waits for `name` now (its commit may be between two awaits)."""
        return name in self._users

    @asynccontextmanager
    async def hold(self, names: Iterable[Hashable]) -> AsyncIterator[None]:
        ordered = sorted(set(names), key=repr)
        for name in ordered:
            self._locks.setdefault(name, asyncio.Lock())
            self._users[name] = self._users.get(name, 0) + 1
        acquired: list[asyncio.Lock] = []
        try:
            for name in ordered:
                lock = self._locks[name]
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in acquired:
                lock.release()
            for name in ordered:
                self._users[name] -= 1
                if not self._users[name]:
                    del self._users[name], self._locks[name]
