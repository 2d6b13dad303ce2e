"""The member cache: one fetch per miss however many wait, LRU bound, invalidation."""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import NotFound
from protos import client_pb2
from router.members import AudienceCache, Members


class Fetcher:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.version = 0

    async def __call__(self, conversation_id: int) -> Members:
        self.calls.append(conversation_id)
        self.entered.set()
        version = self.version  # what the store holds when the request arrives
        await self.gate.wait()
        if conversation_id == 404:
            raise NotFound("no such conversation")
        users = frozenset({f"u{conversation_id}", f"v{version}"})
        return Members(conversation_id, client_pb2.CONVERSATION_KIND_GROUP, users)


async def test_concurrent_misses_share_one_fetch() -> None:
    fetch = Fetcher()
    fetch.gate.clear()
    cache = AudienceCache(fetch, capacity=10)
    waiters = [asyncio.create_task(cache.get(1)) for _ in range(5)]
    async with asyncio.timeout(30):
        await fetch.entered.wait()
    fetch.gate.set()
    results = await asyncio.gather(*waiters)
    assert fetch.calls == [1]
    assert all(r is results[0] for r in results)
    assert cache.peek(1) is results[0]


async def test_least_recently_used_conversations_are_evicted() -> None:
    fetch = Fetcher()
    cache = AudienceCache(fetch, capacity=2)
    await cache.get(1)
    await cache.get(2)
    await cache.get(1)  # 1 is fresher than 2 now
    await cache.get(3)
    assert cache.peek(2) is None
    assert cache.peek(1) is not None and cache.peek(3) is not None


async def test_invalidation_refetches_and_keeps_a_stale_answer_out() -> None:
    fetch = Fetcher()
    cache = AudienceCache(fetch, capacity=10)
    await cache.get(1)
    fetch.gate.clear()
    cache.invalidate(1)
    fetch.entered.clear()
    stale = asyncio.create_task(cache.get(1))
    async with asyncio.timeout(30):
        await fetch.entered.wait()  # the fetch reached the store (version 0)
    cache.invalidate(1)  # a group change lands while that fetch is in flight
    fetch.version = 1
    fetch.gate.set()
    await stale
    assert cache.peek(1) is None  # the in-flight answer predates the change
    fresh = await cache.get(1)
    assert "v1" in fresh.user_ids


async def test_get_many_reports_errors_per_conversation() -> None:
    cache = AudienceCache(Fetcher(), capacity=10)
    found = await cache.get_many([1, 404, 1])
    assert isinstance(found[1], Members)
    assert isinstance(found[404], NotFound)
    with pytest.raises(NotFound):
        await cache.get(404)
