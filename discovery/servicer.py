"""The Discovery gRPC service: a thin adapter from the contract to a NodeRegistry and
the edge-choice rule. Errors cross as kernel error codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from grpc import aio

from discovery.convert import kind_from_proto, node_to_proto
from discovery.interface import NodeRegistry
from discovery.model import NodeKind
from discovery.rules import choose_edge
from kernel.errors import InvalidArgument, NotFound
from kernel.grpc_boundary import servicer_errors
from protos import discovery_pb2, discovery_pb2_grpc, router_pb2

Context = aio.ServicerContext[Any, Any]
MovePartition = Callable[[router_pb2.MovePartitionRequest], Awaitable[router_pb2.PartitionOwner]]


class DiscoveryServicer(discovery_pb2_grpc.DiscoveryServicer):
    def __init__(self, registry: NodeRegistry, move_partition: MovePartition | None = None) -> None:
        self._registry = registry
        self._move_partition = move_partition

    @servicer_errors
    async def MovePartition(
        self, request: router_pb2.MovePartitionRequest, context: Context
    ) -> router_pb2.PartitionOwner:
        if not request.router_id:
            raise InvalidArgument("router_id is required")
        if self._move_partition is None:
            raise NotFound("this discovery service moves no partitions")
        return await self._move_partition(request)

    @servicer_errors
    async def AssignEdge(
        self, request: discovery_pb2.AssignEdgeRequest, context: Context
    ) -> discovery_pb2.EdgeAssignment:
        if not request.user_id:
            raise InvalidArgument("user_id is required")
        edges = await self._registry.list_nodes(NodeKind.EDGE)
        return discovery_pb2.EdgeAssignment(edge=node_to_proto(choose_edge(edges, request.user_id)))

    @servicer_errors
    async def ListNodes(
        self, request: discovery_pb2.ListNodesRequest, context: Context
    ) -> discovery_pb2.NodeList:
        nodes = await self._registry.list_nodes(kind_from_proto(request.kind))
        return discovery_pb2.NodeList(nodes=[node_to_proto(n) for n in nodes])

    @servicer_errors
    async def SetDraining(
        self, request: discovery_pb2.SetDrainingRequest, context: Context
    ) -> discovery_pb2.Node:
        if not request.node_id:
            raise InvalidArgument("node_id is required")
        return node_to_proto(await self._registry.set_draining(request.node_id, request.draining))
