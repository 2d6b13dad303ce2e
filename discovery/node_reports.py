"""What a node keeps telling the registry about itself while it runs: an edge its connection
count, a router the partitions it owns and its highest epoch. Each loop reports a change
only (the ZooKeeper registry also rate-limits the writes); a failed report is logged and
the next change tries again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from discovery.interface import NodeRegistry
from kernel.errors import HubbubError
from kernel.ownership import MapWatch

log = logging.getLogger(__name__)


async def report_connections(
    registry: NodeRegistry, node_id: str, connections: Callable[[], int], every_s: float
) -> None:
    """Sample the node's own connection count every `every_s` (an in-process counter, not
    the registry) and report it when it moved."""
    last = -1
    while True:
        now = connections()
        if now != last:
            try:
                await registry.update(node_id, connections=now)
                last = now
            except HubbubError as error:
                log.warning("%s: connection count not reported: %r", node_id, error)
        await asyncio.sleep(every_s)  # the sampling period of a local counter


async def report_partitions(registry: NodeRegistry, router_id: str, maps: MapWatch) -> None:
    """Report the partitions the map gives this router (and its highest epoch) as it changes."""
    last: dict[int, int] | None = None
    async for current in maps.watch():
        held = current.held_by(router_id)
        if held == last:
            continue
        try:
            await registry.update(router_id, partitions=sorted(held), epoch=max(held.values(), default=0))
            last = held
        except HubbubError as error:
            log.warning("%s: partitions not reported: %r", router_id, error)
