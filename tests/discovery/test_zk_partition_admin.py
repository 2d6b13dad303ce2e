"""`hubbub admin partitions` and `move` on ZooKeeper (discovery/zk_partition_admin.py), on the
real ensemble: a move is an operator's placement that the routers act on; it is persistent (a
restarted discovery reads it back), answered once the map shows the new owner, refused for a
router that is not live, and bounded when no router takes the partition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from discovery.zk_ownership import ZkOwnership
from discovery.zk_partition_admin import ZkPartitionAdmin
from discovery.zk_paths import ZooKeeperSettings
from kernel.errors import NotFound, Unavailable

P = 8
WAIT_S = 15.0


@pytest.fixture
async def ownership(zookeeper_settings: ZooKeeperSettings) -> AsyncIterator[ZkOwnership]:
    made = await ZkOwnership.connect(zookeeper_settings, P)
    try:
        yield made
    finally:
        await made.close()


async def until_placed(ownership: ZkOwnership, partition: int, router_id: str) -> None:
    async for placements in ownership.watch_placements():
        if placements.get(partition) == router_id:
            return
    raise AssertionError("the placements watch ended")


async def test_a_move_answers_with_the_new_owner_once_it_has_claimed(ownership: ZkOwnership) -> None:
    old = await ownership.open_session("router-1", "127.0.0.1:1")
    new = await ownership.open_session("router-2", "127.0.0.1:2")
    first = await old.claim(5)
    admin = ZkPartitionAdmin(ownership, move_wait_s=WAIT_S)
    move = asyncio.create_task(admin.move(5, "router-2"))
    # What the routers' balancers do when they see the placement: a planned handoff.
    await asyncio.wait_for(until_placed(ownership, 5, "router-2"), WAIT_S)
    await old.release(5)
    claimed = await new.claim(5)
    owner = await move
    assert (owner.router_id, owner.target, owner.epoch) == ("router-2", "127.0.0.1:2", claimed)
    assert claimed > first
    listing = await admin.listing()
    assert listing.placements == {5: "router-2"} and listing.map.owner(5) == owner


async def test_placements_outlive_the_process_that_wrote_them(
    ownership: ZkOwnership, zookeeper_settings: ZooKeeperSettings
) -> None:
    await ownership.open_session("router-1", "127.0.0.1:1")
    await ownership.place(3, "router-1")
    restarted = await ZkOwnership.connect(zookeeper_settings, P)
    try:
        assert await restarted.placements() == {3: "router-1"}
        watch = restarted.watch_placements()
        assert await asyncio.wait_for(anext(watch), WAIT_S) == {3: "router-1"}
        await ownership.unplace(3)
        assert await asyncio.wait_for(anext(watch), WAIT_S) == {}
    finally:
        await restarted.close()


async def test_a_move_to_a_dead_router_is_refused_and_one_nobody_takes_is_bounded(
    ownership: ZkOwnership,
) -> None:
    await ownership.open_session("router-1", "127.0.0.1:1")
    admin = ZkPartitionAdmin(ownership, move_wait_s=0.5)
    with pytest.raises(NotFound, match="router-9"):
        await admin.move(1, "router-9")
    assert await ownership.placements() == {}
    with pytest.raises(Unavailable, match="stays placed"):
        await admin.move(1, "router-1")  # a session, but no balancer behind it to claim
    assert await ownership.placements() == {1: "router-1"}
