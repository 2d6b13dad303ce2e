"""A node's running reports reach the registry: an edge's connection count as it moves, a
router's partitions and epoch as the map changes."""

from __future__ import annotations

import asyncio
import contextlib

from discovery.memory_ownership import MemoryOwnership
from discovery.model import NodeInfo, NodeKind
from discovery.node_reports import report_connections, report_partitions
from discovery.static import StaticRegistry
from tests.discovery.registry_contract import until


async def test_an_edges_connection_count_is_reported_as_it_moves() -> None:
    registry = StaticRegistry([NodeInfo("edge-1", NodeKind.EDGE)])
    count = [3]
    task = asyncio.create_task(report_connections(registry, "edge-1", lambda: count[0], every_s=0.01))
    try:
        watch = registry.watch()
        await until(watch, lambda nodes: nodes[0].connections == 3)
        count[0] = 5
        await until(watch, lambda nodes: nodes[0].connections == 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_routers_partitions_and_epoch_follow_the_map() -> None:
    registry = StaticRegistry([NodeInfo("r1", NodeKind.ROUTER, "h:1")])
    ownership = MemoryOwnership(8)
    session = await ownership.open_session("r1", "h:1")
    task = asyncio.create_task(report_partitions(registry, "r1", ownership))
    try:
        watch = registry.watch()
        await session.claim(2)
        epoch = await session.claim(5, above=7)
        [router] = await until(watch, lambda nodes: nodes[0].partitions == (2, 5))
        assert router.epoch == epoch
        await session.release(2)
        await session.release(5)
        await until(watch, lambda nodes: nodes[0].partitions == ())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
