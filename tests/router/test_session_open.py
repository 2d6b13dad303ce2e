"""Batched opening snapshots: the watch-list cache (bulk fetch, TTL, invalidation) and the
batcher's per-session fan-out, with fake fetches; the link-level test is in test_link_presence."""

from __future__ import annotations

import asyncio

from kernel.clock import ManualClock
from router.frames import Origin
from router.session_open import SessionOpenBatcher
from router.user_lists import UserListCache

WAIT_S = 30.0
GRAPH = {"ann": ["ben", "cat"], "ben": ["ann"], "cat": [], "dan": ["ben"]}


class Fetches:
    def __init__(self) -> None:
        self.watch_list_batches: list[list[str]] = []
        self.status_batches: list[list[str]] = []

    async def watch_lists(self, users: list[str]) -> dict[str, list[str]]:
        self.watch_list_batches.append(users)
        return {user: GRAPH[user] for user in users}

    async def statuses(self, users: list[str]) -> dict[str, bytes]:
        self.status_batches.append(users)
        return {user: f"status:{user}".encode() for user in users}


def origin(session_id: int, user_id: str) -> Origin:
    return Origin("edge-1", session_id, user_id, "p")


async def test_the_cache_fetches_only_the_missing_users_in_one_call() -> None:
    clock = ManualClock()
    fetches = Fetches()
    cache = UserListCache(fetches.watch_lists, clock, ttl_s=10.0, capacity=100)
    assert await cache.get_many(["ann", "ben", "ann"]) == {"ann": ["ben", "cat"], "ben": ["ann"]}
    assert await cache.get_many(["ann", "dan"]) == {"ann": ["ben", "cat"], "dan": ["ben"]}
    assert fetches.watch_list_batches == [["ann", "ben"], ["dan"]]
    cache.invalidate(["ann"])
    await cache.get_many(["ann", "ben"])
    clock.advance(11_000)
    await cache.get_many(["ben"])
    assert fetches.watch_list_batches == [["ann", "ben"], ["dan"], ["ann"], ["ben"]]


async def test_the_cache_stays_within_its_capacity() -> None:
    fetches = Fetches()
    cache = UserListCache(fetches.watch_lists, ManualClock(), ttl_s=10.0, capacity=2)
    await cache.get_many(["ann", "ben", "cat"])
    await cache.get_many(["ann"])  # the oldest entry was evicted
    assert fetches.watch_list_batches == [["ann", "ben", "cat"], ["ann"]]


async def test_a_batch_sends_each_session_its_own_watched_users_from_one_query() -> None:
    fetches = Fetches()
    sent: list[tuple[Origin, bytes]] = []
    cache = UserListCache(fetches.watch_lists, ManualClock(), ttl_s=10.0, capacity=100)
    batcher = SessionOpenBatcher(cache, fetches.statuses, lambda o, f: sent.append((o, f)))
    sessions = [origin(1, "ann"), origin(2, "ann"), origin(3, "ben"), origin(4, "cat"), origin(5, "dan")]
    await batcher.run_batch(sessions)
    assert fetches.watch_list_batches == [["ann", "ben", "cat", "dan"]]
    assert len(fetches.status_batches) == 1
    assert sorted(fetches.status_batches[0]) == ["ann", "ben", "cat"]
    assert sorted((o.session_id, f) for o, f in sent) == [
        (1, b"status:ben"), (1, b"status:cat"),
        (2, b"status:ben"), (2, b"status:cat"),
        (3, b"status:ann"),
        (5, b"status:ben"),
    ]  # fmt: skip


async def test_sessions_submitted_together_share_one_batch() -> None:
    fetches = Fetches()
    replies: asyncio.Queue[tuple[Origin, bytes]] = asyncio.Queue()
    cache = UserListCache(fetches.watch_lists, ManualClock(), ttl_s=10.0, capacity=100)
    batcher = SessionOpenBatcher(cache, fetches.statuses, lambda o, f: replies.put_nowait((o, f)))
    batcher.start()
    try:
        for session_id, user in enumerate(["ann", "ben", "dan"], start=1):
            batcher.submit(origin(session_id, user))
        async with asyncio.timeout(WAIT_S):
            got = [await replies.get() for _ in range(4)]
        assert sorted((o.session_id, f) for o, f in got) == [
            (1, b"status:ben"), (1, b"status:cat"), (2, b"status:ann"), (3, b"status:ben"),
        ]  # fmt: skip
        assert fetches.watch_list_batches == [["ann", "ben", "dan"]]
        assert batcher.batches_run == 1
    finally:
        await batcher.stop()


async def test_a_failed_batch_does_not_stop_the_next_one() -> None:
    fetches = Fetches()
    replies: asyncio.Queue[tuple[Origin, bytes]] = asyncio.Queue()
    failed = asyncio.Event()

    async def flaky(users: list[str]) -> dict[str, list[str]]:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("accounts down")
        return await fetches.watch_lists(users)

    cache = UserListCache(flaky, ManualClock(), ttl_s=10.0, capacity=100)
    batcher = SessionOpenBatcher(cache, fetches.statuses, lambda o, f: replies.put_nowait((o, f)))
    batcher.start()
    try:
        batcher.submit(origin(1, "ben"))
        async with asyncio.timeout(WAIT_S):
            await failed.wait()
        batcher.submit(origin(2, "ben"))
        async with asyncio.timeout(WAIT_S):
            assert await replies.get() == (origin(2, "ben"), b"status:ann")
        assert fetches.watch_list_batches == [["ben"]]
    finally:
        await batcher.stop()
