"""The member cache: one load for concurrent misses, invalidation beats a load in flight."""

from __future__ import annotations

import asyncio

import pytest

from kernel.clock import ManualClock
from kernel.errors import NotFound, NotMember
from messaging.membership import MemberCache
from messaging.model import Conversation, ConversationKind, Member, Role
from messaging.store.memory import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def get_members(self, conversation_id: int) -> list[Member]:
        """Reads, then (when gated) holds the answer back: a load that is slow to return."""
        self.loads += 1
        members = await super().get_members(conversation_id)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return members


async def make() -> tuple[CountingStore, MemberCache, ManualClock]:
    store = CountingStore()
    conversation = Conversation(7, ConversationKind.GROUP, "g", "olga", 0)
    await store.create_group(conversation, [Member("olga", Role.OWNER, 0)])
    clock = ManualClock()
    return store, MemberCache(store, clock, max_size=10, ttl_s=5.0), clock


async def test_concurrent_misses_share_one_load_and_hits_cost_nothing() -> None:
    store, cache, _ = await make()
    store.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get(7)) for _ in range(10)]
    async with asyncio.timeout(30):
        await store.entered.wait()  # the load runs after every waiter asked (tasks run FIFO)
    store.gate.set()
    async with asyncio.timeout(30):
        results = await asyncio.gather(*waiting)
    assert all(list(r.members) == ["olga"] for r in results)
    await cache.get(7)
    assert store.loads == 1


async def test_ttl_expiry_reloads() -> None:
    store, cache, clock = await make()
    await cache.get(7)
    clock.advance(6_000)
    await cache.get(7)
    assert store.loads == 2


async def test_invalidation_discards_a_load_in_flight() -> None:
    store, cache, _ = await make()
    store.gate = asyncio.Event()
    stale = asyncio.create_task(cache.get(7))
    async with asyncio.timeout(30):
        await store.entered.wait()  # the load has read the old member list
    await store.add_members(7, [Member("new", Role.MEMBER, 0)])
    cache.invalidate(7)
    store.gate.set()
    async with asyncio.timeout(30):
        assert "new" not in (await stale).members
    store.gate = None
    assert "new" in (await cache.get(7)).members


async def test_unknown_conversation_and_non_member() -> None:
    _, cache, _ = await make()
    with pytest.raises(NotFound):
        await cache.get(8)
    with pytest.raises(NotMember):
        await cache.require_member(7, "eve")
