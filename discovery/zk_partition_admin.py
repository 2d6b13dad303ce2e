"""`hubbub admin partitions` and `hubbub admin move` on a cluster, from discovery's process.
Discovery moves nothing itself: a move writes the operator's placement in ZooKeeper
(ownership/placements/<p>), and every router's balancer (router/cluster_balance.py) runs the
same planned handoff a rebalance does: the old owner refuses new sends for the partition,
finishes its in-flight writes and releases; the new owner claims it at a higher epoch and
seals it. The move answers once the map shows the new owner (or Unavailable after a bound)."""

from __future__ import annotations

import asyncio

from discovery.interface import PartitionListing
from discovery.zk_ownership import ZkOwnership
from kernel.errors import InvalidArgument, NotFound, Unavailable
from kernel.ownership import Owner
from protos import router_pb2

MOVE_WAIT_S = 50.0
"""How long a move waits for the new owner to show in the map (below the admin CLI's 60 s)."""


class ZkPartitionAdmin:
    def __init__(self, ownership: ZkOwnership, move_wait_s: float = MOVE_WAIT_S) -> None:
        self._ownership = ownership
        self._move_wait_s = move_wait_s

    async def listing(self) -> PartitionListing:
        current = await self._ownership.current()
        return PartitionListing(current, await self._ownership.placements())

    async def move(self, partition: int, router_id: str) -> Owner:
        """Place `partition` on `router_id` and wait until it owns it. NotFound for a router
        with no live session; Unavailable (the placement stays, and the balancers go on with
        it) when the handoff does not end within the bound."""
        self._ownership.check(partition)
        live = await self._ownership.live_routers()
        if router_id not in live:
            raise NotFound(f"no live router {router_id!r} (routers: {', '.join(live) or 'none'})")
        await self._ownership.place(partition, router_id)
        try:
            async with asyncio.timeout(self._move_wait_s):
                async for current in self._ownership.watch():
                    owner = current.owner(partition)
                    if owner is not None and owner.router_id == router_id:
                        return owner
        except TimeoutError:
            pass
        raise Unavailable(
            f"partition {partition} is not on {router_id} after {self._move_wait_s:.0f} s; it stays "
            "placed there and moves when the handoff can finish"
        )

    async def move_partition(self, request: router_pb2.MovePartitionRequest) -> router_pb2.PartitionOwner:
        """The Discovery MovePartition rpc (discovery/servicer.py)."""
        if not request.router_id:
            raise InvalidArgument("router_id is required")
        owner = await self.move(request.partition, request.router_id)
        return router_pb2.PartitionOwner(
            partition=request.partition, router_id=owner.router_id, target=owner.target, epoch=owner.epoch
        )
