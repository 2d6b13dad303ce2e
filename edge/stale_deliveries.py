"""Which message fan-outs an edge lets through: a router frozen past its session and thawed
still writes the fan-outs it had queued as the rightful owner; by then a newer owner has pushed
later seqs of the same conversations, and those old pushes would reach clients out of order.

Each fan-out carries (partition, owner epoch) (RouterItem.partition/owner_epoch). One rule,
`admits`, over the edge's partition map and what it delivered so far; `DeliveryFence` keeps that
state. Epoch 0 (no ownership service, the static map) is never checked.
"""

from __future__ import annotations

from edge.metrics import STALE_DELIVERIES_DROPPED
from kernel.ownership import PartitionMap


def admits(epoch: int, current: int | None, previous: int | None, newest: int) -> bool:
    """May a fan-out stored at owner `epoch` reach clients?

    `current`: the epoch of the partition's owner in the map (None: no owner right now);
    `previous`: the owner epoch the map named before that one; `newest`: the highest epoch of
    a fan-out of this partition already delivered by this edge.

    Never after a newer owner's fan-out (that is the out-of-order push). Otherwise the current
    owner's (or a newer one's, its map may lag), and the previous owner's: a planned handoff
    writes its last fan-out frames before it releases, but the edge may hear the new map first.
    A thawed stale owner's queue is dropped as soon as the new owner pushed anything here.
    """
    if epoch == 0:
        return True
    if epoch < newest:
        return False
    if current is None or epoch >= current:
        return True
    return epoch == previous


class DeliveryFence:
    """Per partition: the map's owner epochs (current and the one before) and the newest epoch
    delivered; `admit` applies `admits` and records what it lets through."""

    def __init__(self, partition_map: PartitionMap) -> None:
        self._current: list[int | None] = [o.epoch if o is not None else None for o in partition_map.owners]
        self._previous: list[int | None] = [None] * len(self._current)
        self._newest: dict[int, int] = {}
        self.dropped = 0  # fan-outs dropped as stale (observability)

    def set_map(self, partition_map: PartitionMap) -> None:
        """A newer map: a partition whose owner epoch changed remembers the last one it had
        (an unowned moment in between, mid-handoff, does not erase it)."""
        current, previous = self._current, self._previous
        if len(partition_map.owners) != len(current):
            return  # an edge with another partition count ignores the map (RouterLinks.set_map)
        for partition, owner in enumerate(partition_map.owners):
            epoch = owner.epoch if owner is not None else None
            before = current[partition]
            if epoch == before:
                continue
            if before is not None:  # owned -> unowned -> owned keeps the first as previous
                previous[partition] = before
            current[partition] = epoch

    def admit(self, partition: int, epoch: int) -> bool:
        if epoch == 0 or not 0 <= partition < len(self._current):
            return True
        newest = self._newest.get(partition, 0)
        if not admits(epoch, self._current[partition], self._previous[partition], newest):
            self.dropped += 1
            STALE_DELIVERIES_DROPPED.inc()
            return False
        if epoch > newest:
            self._newest[partition] = epoch
        return True
