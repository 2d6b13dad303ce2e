"""The edge's token-generation cache: a storm of token hellos costs one Accounts call per
batch, a revocation through this edge applies at once, and an outage is UNAVAILABLE."""

from __future__ import annotations

import asyncio

import pytest

from edge.token_check import MISSING, TokenGenerations
from kernel.clock import ManualClock
from kernel.errors import Unavailable


class Accounts:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.generations = {"alice": 0, "bob": 2}
        self.down = False

    async def fetch(self, user_ids: list[str]) -> dict[str, int]:
        self.calls.append(list(user_ids))
        if self.down:
            raise Unavailable("accounts down")
        return {u: self.generations[u] for u in user_ids if u in self.generations}


def cache(accounts: Accounts, clock: ManualClock, ttl_ms: int = 10_000) -> TokenGenerations:
    return TokenGenerations(accounts.fetch, clock, ttl_ms=ttl_ms, capacity=3)


async def test_concurrent_checks_share_one_batched_call_then_hit_the_cache() -> None:
    accounts, clock = Accounts(), ManualClock(1_000)
    tokens = cache(accounts, clock)
    users = ["alice", "bob", "ghost"] * 100
    got = await asyncio.gather(*(tokens.current(u) for u in users))
    assert got[:3] == [0, 2, MISSING]
    assert accounts.calls == [["alice", "bob", "ghost"]]
    assert (tokens.cached("alice"), tokens.cached("ghost")) == (0, MISSING)
    clock.advance(10_000)  # the TTL passed: asked again
    assert tokens.cached("alice") is None
    assert await tokens.current("alice") == 0
    assert len(accounts.calls) == 2


async def test_a_revocation_here_applies_at_once_and_no_older_fetch_undoes_it() -> None:
    accounts, clock = Accounts(), ManualClock(1_000)
    tokens = cache(accounts, clock)
    assert await tokens.current("alice") == 0
    tokens.revoked("alice", 1)
    assert tokens.cached("alice") == 1
    clock.advance(10_000)
    assert await tokens.current("alice") == 1  # Accounts (stale here) still says 0: the max wins


async def test_an_outage_is_unavailable_and_is_not_cached() -> None:
    accounts, clock = Accounts(), ManualClock(1_000)
    tokens = cache(accounts, clock)
    accounts.down = True
    with pytest.raises(Unavailable):
        await tokens.current("alice")
    accounts.down = False
    assert await tokens.current("alice") == 0


async def test_the_cache_is_bounded() -> None:
    accounts, clock = Accounts(), ManualClock(1_000)
    accounts.generations.update(carol=0, dave=0)
    tokens = cache(accounts, clock)
    for user in ("alice", "bob", "carol", "dave"):
        await tokens.current(user)
    assert tokens.cached("alice") is None and tokens.cached("dave") == 0
