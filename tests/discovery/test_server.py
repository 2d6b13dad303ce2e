"""The Discovery gRPC service on a real server (port 0) over a static registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from discovery import DiscoveryConfig, NodeInfo, NodeKind, StaticRegistry, start_discovery
from kernel.errors import InvalidArgument, NotFound, Unavailable
from kernel.grpc_boundary import call
from kernel.grpc_server import GrpcService, insecure_channel
from protos import discovery_pb2, discovery_pb2_grpc


@dataclass
class Env:
    registry: StaticRegistry
    service: GrpcService
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
