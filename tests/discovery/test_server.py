"""The Discovery gRPC service on a real server (port 0) over a static registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from discovery import DiscoveryConfig, NodeInfo, NodeKind, StaticRegistry, start_discovery
from discovery.server import DiscoveryService
from kernel.errors import InvalidArgument, NotFound, Unavailable
from kernel.grpc_boundary import call
from kernel.grpc_server import insecure_channel
from protos import discovery_pb2, discovery_pb2_grpc


@dataclass
class Env:
    registry: StaticRegistry
    service: DiscoveryService
    stub: discovery_pb2_grpc.DiscoveryAsyncStub

    async def assign(self, user: str) -> str:
        reply = await call(self.stub.AssignEdge(discovery_pb2.AssignEdgeRequest(user_id=user)))
        return reply.edge.node_id


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    registry = StaticRegistry(
        [
            NodeInfo("e1", NodeKind.EDGE, "127.0.0.1:11", "ws://127.0.0.1:21/ws", connections=10),
            NodeInfo("e2", NodeKind.EDGE, "127.0.0.1:12", "ws://127.0.0.1:22/ws", connections=20),
            NodeInfo("router-1", NodeKind.ROUTER, "127.0.0.1:13", partitions=(0, 1), epoch=4),
        ]
    )
    service = await start_discovery(DiscoveryConfig(), registry)
    channel = insecure_channel(service.target)
    try:
        yield Env(registry, service, discovery_pb2_grpc.DiscoveryStub(channel))
    finally:
        await channel.close()
        await service.stop(0.5)
        await registry.close()


async def test_assign_edge_honours_load_and_draining(env: Env) -> None:
    assert await env.assign("alice") == "e1"
    await env.registry.update("e1", connections=30)
    assert await env.assign("alice") == "e2"
    drained = await call(env.stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id="e2", draining=True)))
    assert drained.draining and drained.node_id == "e2"
    assert await env.assign("alice") == "e1"
    await call(env.stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id="e1", draining=True)))
    with pytest.raises(Unavailable):
        await env.assign("alice")
    await call(env.stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id="e2", draining=False)))
    assert await env.assign("alice") == "e2"


async def test_assigned_edge_carries_where_to_connect(env: Env) -> None:
    reply = await call(env.stub.AssignEdge(discovery_pb2.AssignEdgeRequest(user_id="bob")))
    assert (reply.edge.ws_url, reply.edge.grpc_target, reply.edge.kind) == (
        "ws://127.0.0.1:21/ws",
        "127.0.0.1:11",
        discovery_pb2.NODE_KIND_EDGE,
    )


async def test_list_nodes_all_or_by_kind(env: Env) -> None:
    everything = await call(env.stub.ListNodes(discovery_pb2.ListNodesRequest()))
    assert [n.node_id for n in everything.nodes] == ["e1", "e2", "router-1"]
    routers = await call(
        env.stub.ListNodes(discovery_pb2.ListNodesRequest(kind=discovery_pb2.NODE_KIND_ROUTER))
    )
    assert [(n.node_id, list(n.partitions), n.epoch) for n in routers.nodes] == [("router-1", [0, 1], 4)]


async def test_bad_requests_get_stable_codes(env: Env) -> None:
    with pytest.raises(InvalidArgument):
        await env.assign("")
    with pytest.raises(NotFound):
        await call(env.stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id="ghost", draining=True)))
    with pytest.raises(InvalidArgument):
        await call(env.stub.ListNodes(discovery_pb2.ListNodesRequest(kind=99)))  # type: ignore[arg-type]


async def test_assign_edge_is_sticky_and_zoned(env: Env) -> None:
    await env.registry.register(NodeInfo("e3", NodeKind.EDGE, "127.0.0.1:14", "ws://e3", 15, zone="west"))
    request = discovery_pb2.AssignEdgeRequest
    stay = await call(env.stub.AssignEdge(request(user_id="alice", device_id="d1", previous_edge_id="e2")))
    assert stay.edge.node_id == "e2"  # the most loaded, but the device was there
    west = await call(env.stub.AssignEdge(request(user_id="alice", zone="west")))
    assert west.edge.node_id == "e3" and west.edge.zone == "west"
    nowhere = await call(env.stub.AssignEdge(request(user_id="alice", zone="east")))
    assert nowhere.edge.node_id == "e1"  # no edge in that zone: any zone will do


@pytest.mark.parametrize(
    "request_",
    [
        discovery_pb2.AssignEdgeRequest(user_id="Not A User"),
        discovery_pb2.AssignEdgeRequest(user_id="alice", device_id="d" * 65),
        discovery_pb2.AssignEdgeRequest(user_id="alice", zone="z" * 65),
    ],
    ids=["bad-user", "long-device", "long-zone"],
)
async def test_assign_edge_refuses_bad_fields(env: Env, request_: discovery_pb2.AssignEdgeRequest) -> None:
    with pytest.raises(InvalidArgument):
        await call(env.stub.AssignEdge(request_))


async def test_report_load_moves_new_clients(env: Env) -> None:
    report = discovery_pb2.ReportLoadRequest(node_id="e1", connections=50, msgs_per_second=12.5)
    node = await call(env.stub.ReportLoad(report))
    assert node.connections == 50 and node.msgs_per_second == 12.5
    assert await env.assign("alice") == "e2"
    with pytest.raises(NotFound):
        await call(env.stub.ReportLoad(discovery_pb2.ReportLoadRequest(node_id="nope")))


async def test_watch_nodes_sees_its_node_drain(env: Env) -> None:
    watch = discovery_pb2.WatchNodesRequest(kind=discovery_pb2.NODE_KIND_EDGE, node_id="e2")
    stream = env.stub.WatchNodes(watch)
    first = await stream.read()
    assert isinstance(first, discovery_pb2.NodeList)
    assert [(n.node_id, n.draining) for n in first.nodes] == [("e2", False)]
    await env.registry.update("e1", connections=3)  # another node's change: not sent to this watcher
    await call(env.stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id="e2", draining=True)))
    second = await stream.read()
    assert isinstance(second, discovery_pb2.NodeList)
    assert [(n.node_id, n.draining) for n in second.nodes] == [("e2", True)]
    stream.cancel()
