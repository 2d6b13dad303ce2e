"""Moving partitions between the routers of one process (the single node's `--routers N`):
planned handoffs and the rebalance when a router joins. The rules are kernel.ownership's
(pure); this only runs the moves. A cluster runs the same rule in each router over ZooKeeper.

A planned handoff: the old owner refuses new frames for the partition at once (STALE_OWNER,
the edge re-sends them by the next map), waits for its in-flight sends, releases; the new owner
claims (a higher epoch), seals, serves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from kernel.errors import HubbubError, InvalidArgument, NotFound
from kernel.ownership import Move, Owner, OwnershipLost, PartitionOwnership, owners_of, rebalance
from router.ownership import RouterPartitions

log = logging.getLogger(__name__)


class LocalRouters:
    def __init__(self, ownership: PartitionOwnership) -> None:
        self.ownership = ownership
        self._routers: dict[str, RouterPartitions] = {}
        self._lock = asyncio.Lock()  # one move at a time

    @property
    def router_ids(self) -> list[str]:
        return sorted(self._routers)

    async def join(self, router_id: str, partitions: RouterPartitions) -> list[Move]:
        """Add a router and rebalance: the fewest planned handoffs to an even split.

        InvalidArgument if that makes two routers and one of them does not seal (`seal=false`):
        partitions would then move between owners with no fencing at all."""
        async with self._lock:
            unsealed = [r for r, p in {**self._routers, router_id: partitions}.items() if not p.seals]
            if self._routers and unsealed:
                raise InvalidArgument(
                    f"router option seal=false ({', '.join(sorted(unsealed))}) disables fencing: "
                    "it is refused with more than one router"
                )
            self._routers[router_id] = partitions
            current = await self.ownership.current()
            moves = rebalance(current.partitions, owners_of(current), self.router_ids)
            await self._run(moves)
            log.info("router %s joined: %d partitions moved", router_id, len(moves))
            return moves

    async def leave(self, router_id: str) -> list[Move]:
        """Hand a router's partitions to the others (planned), then forget it."""
        async with self._lock:
            if router_id not in self._routers:
                return []
            rest = [r for r in self.router_ids if r != router_id]
            current = await self.ownership.current()
            moves = rebalance(current.partitions, owners_of(current), rest) if rest else []
            await self._run(moves)
            del self._routers[router_id]
            return moves

    async def move(self, partition: int, router_id: str) -> Owner:
        """`hubbub admin move-partition`: one planned handoff."""
        async with self._lock:
            current = await self.ownership.current()
            if not 0 <= partition < current.partitions:
                raise InvalidArgument(f"partition must be within 0..{current.partitions - 1}")
            if router_id not in self._routers:
                known = ", ".join(self.router_ids)
                raise NotFound(f"no router {router_id!r} here (routers: {known})")
            owner = current.owner(partition)
            if owner is None or owner.router_id != router_id:
                await self._run([Move(partition, owner.router_id if owner else None, router_id)])
            moved = (await self.ownership.current()).owner(partition)
            assert moved is not None
            return moved

    async def _run(self, moves: Sequence[Move]) -> None:
        """Old owners hand off (in parallel), then each new owner claims and seals its share
        in one Seal call."""
        leaving = [
            self._routers[m.source].hand_off(m.partition)
            for m in moves
            if m.source is not None and m.source in self._routers
        ]
        await asyncio.gather(*leaving)
        by_target: dict[str, list[int]] = {}
        for m in moves:
            by_target.setdefault(m.target, []).append(m.partition)
        targets = list(by_target)
        taken = await asyncio.gather(
            *(self._routers[r].take(by_target[r]) for r in targets), return_exceptions=True
        )
        failed = [
            (r, result) for r, result in zip(targets, taken, strict=True) if isinstance(result, BaseException)
        ]
        if failed:
            # The new owner could not seal (messaging unreachable past its retries): the old
            # owners take their partitions back, so none is left without an owner; the mover
            # hears the error.
            await self._give_back([m for m in moves if m.target in {r for r, _ in failed}])
            raise failed[0][1]

    async def _give_back(self, moves: Sequence[Move]) -> None:
        by_source: dict[str, list[int]] = {}
        for m in moves:
            if m.source is not None and m.source in self._routers:
                by_source.setdefault(m.source, []).append(m.partition)
        for source, partitions in by_source.items():
            try:
                await self._routers[source].take(partitions)
            except (HubbubError, OwnershipLost) as exc:
                log.error("router %s: taking back %d partitions failed: %r", source, len(partitions), exc)
