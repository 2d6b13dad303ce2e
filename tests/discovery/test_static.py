"""The static registry behaves as the NodeRegistry contract says."""

from __future__ import annotations

import pytest

from discovery.model import NodeInfo, NodeKind
from discovery.static import StaticRegistry
from kernel.errors import InvalidArgument, NotFound


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
