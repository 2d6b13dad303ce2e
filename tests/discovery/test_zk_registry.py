"""The ZooKeeper node registry against the registry contract, on a real 3-node ensemble, and
what only ZooKeeper has: a registration that goes with its process's session, a drain mark
that outlives it, and a node written by a newer version read by this one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator

import pytest

from discovery.model import NodeInfo, NodeKind
from discovery.zk_client import ZkSession
from discovery.zk_paths import ZooKeeperSettings
from discovery.zk_registry import ZkRegistry, parse_node
from kernel.ownership import SessionState
from tests.discovery.registry_contract import EDGE, RegistryContract, until
from tests.discovery.zk_helpers import STATE_WAIT_S, expire_session


@pytest.fixture
async def registry(zookeeper_settings: ZooKeeperSettings) -> AsyncIterator[ZkRegistry]:
    # A short load interval keeps the contract quick; the rate limit has its own test below.
    settings = dataclasses.replace(zookeeper_settings, load_update_interval_s=0.2)
    made = await ZkRegistry.connect(settings)
    try:
        yield made
    finally:
        await made.close()


class TestZkRegistry(RegistryContract):
    pass


async def test_a_node_goes_with_its_session_and_its_drain_mark_stays(
    registry: ZkRegistry, zookeeper_settings: ZooKeeperSettings
) -> None:
    edge_process = await ZkRegistry.connect(dataclasses.replace(registry.settings))
    await edge_process.register(EDGE)
    await registry.set_draining("edge-1", True)
    watch = registry.watch()
    assert [n.node_id for n in await until(watch, lambda ns: bool(ns))] == ["edge-1"]
    await edge_process.close()  # the process ends: its session, and its node, go
    assert await until(watch, lambda ns: not ns) == []
    restarted = await ZkRegistry.connect(dataclasses.replace(registry.settings))
    try:
        await restarted.register(EDGE)
        [back] = await until(watch, lambda ns: bool(ns))
        assert back.draining, "the operator's mark outlived the node's session"
    finally:
        await restarted.close()


async def test_load_writes_are_rate_limited_and_the_last_one_lands(registry: ZkRegistry) -> None:
    interval = 2.0
    slow = await ZkRegistry.connect(dataclasses.replace(registry.settings, load_update_interval_s=interval))
    path = slow.settings.node_of("edge-1")

    async def writes() -> int:
        _, stat = await registry.zk.call(registry.zk.client.get_async(path))
        return int(stat.version)

    try:
        await slow.register(EDGE)
        watch = registry.watch()
        await until(watch, lambda ns: bool(ns))
        before, started = await writes(), time.monotonic()
        for count in range(100):
            await slow.update("edge-1", connections=count)
        took = time.monotonic() - started
        [edge] = await until(watch, lambda ns: ns[0].connections == 99)
        allowed = 2 + int(took / interval)  # the first, one per interval the loop spanned, the last
        assert await writes() - before <= allowed, f"100 load updates in {took:.2f} s"
        assert edge.connections == 99
    finally:
        await slow.close()


def test_fields_a_newer_writer_adds_are_ignored_and_missing_ones_default() -> None:
    data = json.dumps({"node_id": "e9", "kind": "edge", "grpc_target": "h:1", "future_field": 1}).encode()
    assert parse_node(data, draining=True) == NodeInfo("e9", NodeKind.EDGE, "h:1", draining=True)
    assert parse_node(b"not json", draining=False) is None
    assert parse_node(
        json.dumps({"node_id": "r", "kind": "router", "partitions": [1, 2]}).encode(), False
    ) == (NodeInfo("r", NodeKind.ROUTER, partitions=(1, 2)))


async def test_a_registry_whose_session_expires_registers_its_nodes_again(registry: ZkRegistry) -> None:
    edge_process = await ZkRegistry.connect(registry.settings)
    try:
        await edge_process.register(EDGE)
        old = edge_process.zk
        renewed = asyncio.Event()

        async def on_renewed(_zk: ZkSession) -> None:
            renewed.set()

        edge_process.session.on_renewed.append(on_renewed)
        await expire_session(registry.settings.hosts, old)
        await asyncio.wait_for(renewed.wait(), STATE_WAIT_S)
        assert old.state is SessionState.LOST and edge_process.zk.session_id != old.session_id
        watch = registry.watch()
        assert await until(watch, lambda ns: bool(ns)) == [EDGE]
        _, stat = await registry.zk.call(registry.zk.client.get_async(registry.settings.node_of("edge-1")))
        assert stat.ephemeralOwner == edge_process.zk.session_id, "registered in the new session"
        await edge_process.update("edge-1", connections=7, partitions=())
        assert (await until(watch, lambda ns: ns[0].connections == 7))[0].connections == 7
    finally:
        await edge_process.close()


async def test_an_operators_weight_outlives_the_discovery_that_set_it(
    registry: ZkRegistry, zookeeper_settings: ZooKeeperSettings
) -> None:
    await registry.register(EDGE)  # the edge's own process (its session keeps the node)
    discovery = await ZkRegistry.connect(zookeeper_settings)
    await discovery.set_weight("edge-1", 4.0)
    await discovery.close()
    restarted = await ZkRegistry.connect(zookeeper_settings)
    try:
        [listed] = await restarted.list_nodes()
        assert listed.weight == 4.0
    finally:
        await restarted.close()
