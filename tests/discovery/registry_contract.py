"""The NodeRegistry contract (discovery/interface.py), written once for every backend: the
static registry and the ZooKeeper one run it (test_static.py, test_zk_registry.py) by
subclassing it with their own `registry` fixture. What a node reports about its load may
land a little later (ZooKeeper rate-limits load writes), so load is checked through the watch,
which must show the latest value in the end."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest

from discovery.interface import NodeRegistry
from discovery.model import NodeInfo, NodeKind
from kernel.errors import InvalidArgument, NotFound

WAIT_S = 15.0

EDGE = NodeInfo(
    "edge-1",
    NodeKind.EDGE,
    "127.0.0.1:7001",
    "ws://127.0.0.1:7002/ws",
    connections=3,
    registered_at_ms=1234,
    zone="eu-1a",
    capacity=50_000,
    weight=2.5,
    msgs_per_second=12.5,
)
ROUTER = NodeInfo("router-1", NodeKind.ROUTER, "127.0.0.1:7101", partitions=(0, 2, 5), epoch=9)


async def until(watch: AsyncIterator[list[NodeInfo]], ok: Callable[[list[NodeInfo]], bool]) -> list[NodeInfo]:
    """The first list the watch gives that passes `ok`."""

    async def scan() -> list[NodeInfo]:
        async for nodes in watch:
            if ok(nodes):
                return nodes
        raise AssertionError("the watch ended first")

    return await asyncio.wait_for(scan(), WAIT_S)


def by_id(nodes: list[NodeInfo]) -> dict[str, NodeInfo]:
    return {n.node_id: n for n in nodes}


class RegistryContract:
    """Subclasses provide `registry` (a fresh, empty registry)."""

    async def test_every_field_of_a_registration_is_listed_back(self, registry: NodeRegistry) -> None:
        assert await registry.register(ROUTER) == ROUTER
        assert await registry.register(EDGE) == EDGE
        assert await registry.list_nodes() == [EDGE, ROUTER], "sorted by kind, then id"
        assert await registry.list_nodes(NodeKind.ROUTER) == [ROUTER]
        assert await registry.list_nodes(NodeKind.PRESENCE) == []

    async def test_a_re_registration_replaces_the_node_and_keeps_the_drain_mark(
        self, registry: NodeRegistry
    ) -> None:
        await registry.register(EDGE)
        assert (await registry.set_draining("edge-1", True)).draining
        restarted = dataclasses.replace(EDGE, grpc_target="127.0.0.1:8001", connections=0)
        await registry.register(restarted)
        [listed] = await registry.list_nodes()
        assert (listed.grpc_target, listed.connections, listed.draining) == ("127.0.0.1:8001", 0, True)
        assert not (await registry.set_draining("edge-1", False)).draining
        assert not (await registry.list_nodes())[0].draining

    async def test_an_operators_weight_wins_is_watched_and_outlives_a_re_registration(
        self, registry: NodeRegistry
    ) -> None:
        await registry.register(EDGE)
        watch = registry.watch(NodeKind.EDGE)
        assert (await registry.set_weight("edge-1", 0.5)).weight == 0.5
        assert (await until(watch, lambda ns: ns[0].weight == 0.5))[0].connections == EDGE.connections
        assert (await registry.list_nodes())[0].weight == 0.5
        restarted = await registry.register(dataclasses.replace(EDGE, weight=3.0))
        assert restarted.weight == 0.5, "the operator's weight, not the registered one"
        assert (await registry.list_nodes())[0].weight == 0.5
        for bad in (0.0, -1.0, float("nan"), float("inf"), 1e9):
            with pytest.raises(InvalidArgument):
                await registry.set_weight("edge-1", bad)
        with pytest.raises(NotFound):
            await registry.set_weight("ghost", 2.0)
        assert (await registry.list_nodes())[0].weight == 0.5

    async def test_load_updates_land_and_the_latest_wins(self, registry: NodeRegistry) -> None:
        await registry.register(EDGE)
        await registry.register(ROUTER)
        watch = registry.watch()
        for count in range(1, 21):
            returned = await registry.update("edge-1", connections=count, msgs_per_second=count / 2)
            assert (returned.connections, returned.msgs_per_second) == (count, count / 2)
        moved = await registry.update("router-1", partitions=[1, 3], epoch=10)
        assert (moved.partitions, moved.epoch) == ((1, 3), 10)
        nodes = await until(
            watch,
            lambda ns: by_id(ns)["edge-1"].connections == 20 and by_id(ns)["router-1"].epoch == 10,
        )
        edge, router = by_id(nodes)["edge-1"], by_id(nodes)["router-1"]
        assert edge == dataclasses.replace(EDGE, connections=20, msgs_per_second=10.0)
        assert (router.partitions, router.epoch) == ((1, 3), 10)

    async def test_negative_load_is_floored_at_zero(self, registry: NodeRegistry) -> None:
        await registry.register(EDGE)
        updated = await registry.update("edge-1", connections=-5, msgs_per_second=-1.0)
        assert (updated.connections, updated.msgs_per_second) == (0, 0.0)

    async def test_the_watch_gives_the_nodes_then_each_change(self, registry: NodeRegistry) -> None:
        await registry.register(EDGE)
        watch = registry.watch(NodeKind.EDGE)
        assert await until(watch, lambda ns: True) == [EDGE]
        await registry.register(ROUTER)  # another kind: this watch may wake, and lists edges only
        second = dataclasses.replace(EDGE, node_id="edge-2")
        await registry.register(second)
        assert await until(watch, lambda ns: len(ns) == 2) == [EDGE, second]
        await registry.set_draining("edge-2", True)
        drained = await until(watch, lambda ns: ns[1].draining)
        assert [n.node_id for n in drained] == ["edge-1", "edge-2"]
        await registry.deregister("edge-1")
        assert [n.node_id for n in await until(watch, lambda ns: len(ns) == 1)] == ["edge-2"]

    async def test_deregister_is_idempotent(self, registry: NodeRegistry) -> None:
        await registry.register(EDGE)
        await registry.deregister("edge-1")
        await registry.deregister("edge-1")
        assert await registry.list_nodes() == []

    async def test_unknown_and_nameless_nodes_are_refused(self, registry: NodeRegistry) -> None:
        with pytest.raises(NotFound):
            await registry.set_draining("ghost", True)
        with pytest.raises(NotFound):
            await registry.update("ghost", connections=1)
        with pytest.raises(InvalidArgument):
            await registry.register(NodeInfo("", NodeKind.EDGE))

    async def test_a_watch_ends_when_the_registry_closes(self, registry: NodeRegistry) -> None:
        await registry.register(EDGE)
        watch = registry.watch()
        assert await until(watch, lambda nodes: bool(nodes)) == [EDGE]
        await registry.close()

        async def drain() -> None:
            async for _ in watch:
                pass

        await asyncio.wait_for(drain(), WAIT_S)
