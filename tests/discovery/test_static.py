"""The static registry behaves as the NodeRegistry contract says."""

from __future__ import annotations

import pytest

from discovery.model import NodeInfo, NodeKind
from discovery.static import StaticRegistry
from kernel.errors import InvalidArgument, NotFound
from kernel.ownership import Owner, PartitionMap


def single_node(connections: list[int]) -> StaticRegistry:
    return StaticRegistry.single_node(
        edge_id="edge-1",
        ws_url="ws://127.0.0.1:1/ws",
        grpc_target="127.0.0.1:2",
        connections=lambda: connections[0],
        router_target="127.0.0.1:3",
        messaging_target="127.0.0.1:4",
        presence_target="127.0.0.1:5",
        now_ms=42,
    )


async def test_single_node_lists_one_of_each_kind_with_live_connection_counts() -> None:
    connections = [3]
    registry = single_node(connections)
    nodes = await registry.list_nodes()
    assert [(n.node_id, n.kind) for n in nodes] == [
        ("edge-1", NodeKind.EDGE),
        ("router-1", NodeKind.ROUTER),
        ("messaging-1", NodeKind.MESSAGING),
        ("presence-1", NodeKind.PRESENCE),
    ]
    assert nodes[0].connections == 3 and nodes[0].registered_at_ms == 42
    connections[0] = 7
    assert [n.connections for n in await registry.list_nodes(NodeKind.EDGE)] == [7]


async def test_register_update_drain_deregister() -> None:
    registry = StaticRegistry()
    await registry.register(NodeInfo("e2", NodeKind.EDGE, "h:2"))
    await registry.register(NodeInfo("e1", NodeKind.EDGE, "h:1"))
    assert [n.node_id for n in await registry.list_nodes()] == ["e1", "e2"]

    updated = await registry.update("e1", connections=5, epoch=3)
    assert (updated.connections, updated.epoch) == (5, 3)
    registry.set_connections("e1", 9)
    assert (await registry.list_nodes())[0].connections == 9

    assert (await registry.set_draining("e1", True)).draining
    # a re-registration (restart under the same id) keeps the operator's drain mark
    await registry.register(NodeInfo("e1", NodeKind.EDGE, "h:1b"))
    first = (await registry.list_nodes())[0]
    assert (first.grpc_target, first.draining) == ("h:1b", True)
    assert not (await registry.set_draining("e1", False)).draining

    await registry.deregister("e1")
    await registry.deregister("e1")  # idempotent
    assert [n.node_id for n in await registry.list_nodes()] == ["e2"]


async def test_unknown_and_nameless_nodes_are_refused() -> None:
    registry = StaticRegistry()
    with pytest.raises(NotFound):
        await registry.set_draining("ghost", True)
    with pytest.raises(NotFound):
        await registry.update("ghost", connections=1)
    with pytest.raises(InvalidArgument):
        await registry.register(NodeInfo("", NodeKind.EDGE))


async def test_routers_are_listed_as_the_partition_map_names_them() -> None:
    current = PartitionMap.empty(4)
    registry = StaticRegistry(
        [NodeInfo("router-1", NodeKind.ROUTER, "127.0.0.1:3")], partition_map=lambda: current
    )
    assert (await registry.list_nodes(NodeKind.ROUTER))[0].partitions == ()  # no map yet
    current = (
        current.with_owner(0, Owner("router-1", "127.0.0.1:3", 1))
        .with_owner(1, Owner("router-1", "127.0.0.1:3", 1))
        .with_owner(2, Owner("router-2", "127.0.0.1:4", 2))
        .with_owner(3, Owner("router-2", "127.0.0.1:4", 3))
    )
    routers = await registry.list_nodes(NodeKind.ROUTER)
    assert [(r.node_id, r.grpc_target, r.partitions, r.epoch) for r in routers] == [
        ("router-1", "127.0.0.1:3", (0, 1), 1),
        ("router-2", "127.0.0.1:4", (2, 3), 3),
    ]
    current = current.with_owner(0, None).with_owner(1, None)
    assert [r.partitions for r in await registry.list_nodes(NodeKind.ROUTER)] == [(), (2, 3)]


async def test_a_watcher_sees_the_nodes_now_then_each_change_and_ends_on_close() -> None:
    registry = StaticRegistry([NodeInfo("edge-1", NodeKind.EDGE, "127.0.0.1:1", zone="a", capacity=100)])
    watch = registry.watch(NodeKind.EDGE)
    first = await anext(watch)
    assert [(n.node_id, n.zone, n.capacity) for n in first] == [("edge-1", "a", 100)]

    await registry.register(NodeInfo("edge-2", NodeKind.EDGE, "127.0.0.1:2"))
    assert [n.node_id for n in await anext(watch)] == ["edge-1", "edge-2"]

    await registry.update("edge-2", connections=7, msgs_per_second=12.5)
    second = (await anext(watch))[1]
    assert (second.connections, second.msgs_per_second) == (7, 12.5)

    await registry.set_draining("edge-1", True)
    assert (await anext(watch))[0].draining

    await registry.close()
    with pytest.raises(StopAsyncIteration):
        await anext(watch)
