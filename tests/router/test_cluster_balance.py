"""Routers that balance by themselves (router/cluster_balance.py), here over the memory
ownership with a live-router feed the test controls: they split the partitions, one takes
all when the other leaves, a store that refuses Seal for a while is retried, not lost, and a
step skipped while a session was away runs when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from discovery.memory_ownership import MemoryOwnership, MemorySession
from kernel.errors import Unavailable
from kernel.ownership import OwnershipLost, PartitionMap, SessionState
from protos import messaging_pb2
from router.cluster_balance import ClusterBalancer
from router.ownership import RouterPartitions, Seal
from tests.log_events import logged

P = 8
WAIT_S = 10.0


class LiveFeed:
    """The live routers, as the test says they are."""

    def __init__(self) -> None:
        self.routers: dict[str, str] = {}
        self._changed = asyncio.Event()

    def set(self, routers: dict[str, str]) -> None:
        self.routers = dict(routers)
        self._changed.set()

    async def watch_routers(self) -> AsyncIterator[dict[str, str]]:
        while True:
            yield dict(self.routers)
            await self._changed.wait()
            self._changed.clear()


class PlacementFeed:
    """The operator's placements, as the test sets them."""

    def __init__(self) -> None:
        self.placements: dict[int, str] = {}
        self._changed = asyncio.Event()

    def place(self, partition: int, router_id: str) -> None:
        self.placements[partition] = router_id
        self._changed.set()

    async def watch_placements(self) -> AsyncIterator[dict[int, str]]:
        while True:
            yield dict(self.placements)
            await self._changed.wait()
            self._changed.clear()


class GatedClaims:
    """A memory session whose claims wait at a gate the test holds shut: a ZooKeeper claim's
    round trip, long under load."""

    def __init__(self, inner: MemorySession) -> None:
        self._inner = inner
        self.target = inner.target
        self.gate = asyncio.Event()
        self.gate.set()
        self.cut_short = 0
        """How many claims to fail as a ZooKeeper request that timed out does (OwnershipLost
        while the session stays CONNECTED)."""

    @property
    def router_id(self) -> str:
        return self._inner.router_id

    @property
    def state(self) -> SessionState:
        return self._inner.state

    async def claim(self, partition: int, above: int = 0) -> int:
        await self.gate.wait()
        if self.cut_short > 0:
            self.cut_short -= 1
            raise OwnershipLost("ZooKeeper: no answer within the session timeout")
        return await self._inner.claim(partition, above)

    async def release(self, partition: int) -> None:
        await self._inner.release(partition)

    async def renew(self) -> None:
        await self._inner.renew()

    def state_changes(self) -> AsyncIterator[SessionState]:
        return self._inner.state_changes()

    async def close(self) -> None:
        await self._inner.close()


async def map_where(ownership: MemoryOwnership, ok: Callable[[PartitionMap], bool]) -> PartitionMap:
    async def scan() -> PartitionMap:
        async for current in ownership.watch():
            if ok(current):
                return current
        raise AssertionError("the watch ended")

    return await asyncio.wait_for(scan(), WAIT_S)


async def start(
    ownership: MemoryOwnership,
    live: LiveFeed,
    router_id: str,
    seal: Seal | None = None,
    placements: PlacementFeed | None = None,
) -> ClusterBalancer:
    session = await ownership.open_session(router_id, f"h:{router_id}")
    partitions = RouterPartitions(P, session, seal=seal)
    partitions.start()
    balancer = ClusterBalancer(ownership, live, router_id, session.target, partitions, placements)
    balancer.start()
    return balancer


async def test_two_routers_split_and_one_takes_all_when_the_other_leaves() -> None:
    ownership, live = MemoryOwnership(P), LiveFeed()
    live.set({"a": "h:a", "b": "h:b"})
    balancers = [await start(ownership, live, "a"), await start(ownership, live, "b")]
    try:
        split = await map_where(ownership, lambda m: len(m.held_by("a")) == len(m.held_by("b")) == P // 2)
        assert not set(split.held_by("a")) & set(split.held_by("b"))
        ownership.expire("b")
        live.set({"a": "h:a"})
        await map_where(ownership, lambda m: len(m.held_by("a")) == P)
    finally:
        for balancer in balancers:
            await balancer.stop()


async def test_a_seal_refused_for_a_while_is_retried_until_the_partitions_are_taken() -> None:
    ownership, live = MemoryOwnership(P), LiveFeed()
    live.set({"a": "h:a"})
    refusals = [3]

    async def seal(_request: messaging_pb2.SealRequest) -> messaging_pb2.SealReply:
        if refusals[0] > 0:
            refusals[0] -= 1
            raise Unavailable("messaging is restarting")
        return messaging_pb2.SealReply()

    balancer = await start(ownership, live, "a", seal)
    try:
        await map_where(ownership, lambda m: len(m.held_by("a")) == P)
        assert refusals == [0]
    finally:
        await balancer.stop()


async def test_a_placed_partition_moves_by_a_handoff_at_a_higher_epoch_and_stays() -> None:
    ownership, live, placed = MemoryOwnership(P), LiveFeed(), PlacementFeed()
    live.set({"a": "h:a", "b": "h:b"})
    balancers = [await start(ownership, live, r, placements=placed) for r in ("a", "b")]
    try:
        split = await map_where(ownership, lambda m: len(m.held_by("a")) == len(m.held_by("b")) == P // 2)
        partition, epoch = next(iter(split.held_by("a").items()))
        placed.place(partition, "b")
        moved = await map_where(ownership, lambda m: partition in m.held_by("b"))
        assert moved.held_by("b")[partition] > epoch
        # Nothing else moved to make up for it (the others stay balanced among themselves).
        assert (len(moved.held_by("a")), len(moved.held_by("b"))) == (P // 2 - 1, P // 2 + 1)
    finally:
        for balancer in balancers:
            await balancer.stop()


async def test_a_step_skipped_while_the_session_was_suspended_runs_when_it_is_connected_again() -> None:
    # Router a holds everything; b joins while a's session is away, so a's step is skipped.
    # Nothing else changes before a is back: only its session going CONNECTED can wake it.
    ownership, live = MemoryOwnership(P), LiveFeed()
    live.set({"a": "h:a"})
    balancers = [await start(ownership, live, "a")]
    try:
        await map_where(ownership, lambda m: len(m.held_by("a")) == P)
        ownership.suspend("a")
        with logged("router.cluster_balance", "router a: balancing step skipped") as skipped:
            balancers.append(await start(ownership, live, "b"))
            live.set({"a": "h:a", "b": "h:b"})
            await asyncio.wait_for(skipped.seen.wait(), WAIT_S)
        ownership.resume("a")
        split = await map_where(ownership, lambda m: len(m.held_by("a")) == len(m.held_by("b")) == P // 2)
        assert not set(split.held_by("a")) & set(split.held_by("b"))
    finally:
        for balancer in balancers:
            await balancer.stop()


async def test_a_handoff_asked_while_the_router_is_still_retaking_its_claims_is_not_lost() -> None:
    # a comes back from a suspension and retakes its partitions (claims in flight, held at a
    # gate) while its balancer already hands off b's share: the handoff must give those up
    # even though a does not serve them yet, or the retake keeps them at the same epochs, the
    # map never changes again and nothing wakes either balancer (a split that never ended).
    ownership, live = MemoryOwnership(P), LiveFeed()
    live.set({"a": "h:a"})
    session = GatedClaims(await ownership.open_session("a", "h:a"))
    partitions = RouterPartitions(P, session)
    partitions.start()
    balancers = [ClusterBalancer(ownership, live, "a", session.target, partitions)]
    balancers[0].start()
    try:
        await map_where(ownership, lambda m: len(m.held_by("a")) == P)
        ownership.suspend("a")
        session.gate.clear()
        with logged("router.cluster_balance", "router a: balancing step skipped") as skipped:
            balancers.append(await start(ownership, live, "b"))
            live.set({"a": "h:a", "b": "h:b"})
            await asyncio.wait_for(skipped.seen.wait(), WAIT_S)
        with logged("router.cluster_balance", "router a: handed off") as handed:
            ownership.resume("a")
            await asyncio.wait_for(handed.seen.wait(), WAIT_S)
        session.gate.set()  # the retake's claims go through now
        split = await map_where(ownership, lambda m: len(m.held_by("a")) == len(m.held_by("b")) == P // 2)
        assert not set(split.held_by("a")) & set(split.held_by("b"))
    finally:
        for balancer in balancers:
            await balancer.stop()


async def test_a_claim_cut_short_while_the_session_stays_connected_is_tried_again() -> None:
    # Nothing changes after the failed claim (the map, the routers, the session): only the
    # balancer's own retry can take the partitions.
    ownership, live = MemoryOwnership(P), LiveFeed()
    live.set({"a": "h:a"})
    session = GatedClaims(await ownership.open_session("a", "h:a"))
    session.cut_short = 1
    partitions = RouterPartitions(P, session)
    partitions.start()
    balancer = ClusterBalancer(ownership, live, "a", session.target, partitions)
    balancer.start()
    try:
        await map_where(ownership, lambda m: len(m.held_by("a")) == P)
        assert session.cut_short == 0
    finally:
        await balancer.stop()
