"""Batched opening snapshots: the watch-list cache (bulk fetch, TTL, invalidation) and the
batcher's per-session fan-out, with fake fetches; the link-level test is in test_link_presence."""

from __future__ import annotations

import asyncio

from kernel.clock import ManualClock
from kernel.errors import InvalidArgument
from kernel.limits import MAX_BATCH_USERS, MAX_PRESENCE_QUERY_USERS
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


class LimitedPresence:
    """Statuses as the real Presence.Query gives them: more than MAX_PRESENCE_QUERY_USERS
    users fail the whole query (presence/servicer.py), as a gRPC error would."""

    def __init__(self, down: frozenset[str] = frozenset()) -> None:
        self.queries: list[int] = []
        self._down = down  # a query naming one of these fails

    async def statuses(self, users: list[str]) -> dict[str, bytes]:
        self.queries.append(len(users))
        if len(users) > MAX_PRESENCE_QUERY_USERS:
            raise InvalidArgument(f"at most {MAX_PRESENCE_QUERY_USERS} users per query")
        if self._down.intersection(users):
            raise RuntimeError("presence down")
        return {user: b"s" for user in users}


async def test_watch_lists_merged_past_the_query_limit_still_reach_every_session() -> None:
    # The reviewer's probe: 3 users each watching 4,000 (under MAX_CONTACTS) in one batch.
    graph = {f"u{i}": [f"w{i}-{j}" for j in range(4_000)] for i in range(3)}

    async def watch_lists(users: list[str]) -> dict[str, list[str]]:
        return {user: graph[user] for user in users}

    presence = LimitedPresence()
    got: dict[int, int] = {}

    def reply(o: Origin, frame: bytes) -> None:
        got[o.session_id] = got.get(o.session_id, 0) + 1

    cache = UserListCache(watch_lists, ManualClock(), ttl_s=10.0, capacity=100)
    batcher = SessionOpenBatcher(cache, presence.statuses, reply)
    await batcher.run_batch([origin(i, f"u{i}") for i in range(3)])
    assert got == {0: 4_000, 1: 4_000, 2: 4_000}
    assert max(presence.queries) <= MAX_PRESENCE_QUERY_USERS


async def test_one_failing_query_fails_only_its_sessions() -> None:
    graph = {"u0": [f"a{j}" for j in range(6_000)], "u1": [f"b{j}" for j in range(6_000)]}

    async def watch_lists(users: list[str]) -> dict[str, list[str]]:
        return {user: graph[user] for user in users}

    presence = LimitedPresence(down=frozenset({"a7"}))
    got: dict[int, int] = {}

    def reply(o: Origin, frame: bytes) -> None:
        got[o.session_id] = got.get(o.session_id, 0) + 1

    cache = UserListCache(watch_lists, ManualClock(), ttl_s=10.0, capacity=100)
    await SessionOpenBatcher(cache, presence.statuses, reply).run_batch([origin(0, "u0"), origin(1, "u1")])
    assert got == {1: 6_000}


async def test_watch_lists_are_asked_in_bounded_calls_and_again_for_those_left_out() -> None:
    users = [f"u{i}" for i in range(2_500)]
    calls: list[int] = []

    async def watch_lists(asked: list[str]) -> dict[str, list[str]]:
        # Like Accounts: at most MAX_BATCH_USERS, and a reply cut by bytes (here: 300 users).
        calls.append(len(asked))
        if len(asked) > MAX_BATCH_USERS:
            raise InvalidArgument("too many")
        return {user: ["x"] for user in asked[:300]}

    presence = LimitedPresence()
    sent: list[Origin] = []
    cache = UserListCache(watch_lists, ManualClock(), ttl_s=10.0, capacity=10_000)
    await SessionOpenBatcher(cache, presence.statuses, lambda o, f: sent.append(o)).run_batch(
        [origin(i, user) for i, user in enumerate(users)]
    )
    assert len(sent) == 2_500
    assert max(calls) <= MAX_BATCH_USERS
