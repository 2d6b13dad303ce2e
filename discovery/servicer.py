"""The Discovery gRPC service: a thin adapter from the contract to a NodeRegistry and
the edge-choice rule. Errors cross as kernel error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from grpc import aio

from discovery.assignment import assign_edge
from discovery.convert import kind_from_proto, map_to_proto, node_to_proto
from discovery.interface import ListPartitions, NodeRegistry
from discovery.rules import DEFAULT_CAPACITY
from kernel.errors import InvalidArgument, NotFound
from kernel.grpc_boundary import abort_with, servicer_errors
from protos import discovery_pb2, discovery_pb2_grpc, router_pb2

Context = aio.ServicerContext[Any, Any]
MovePartition = Callable[[router_pb2.MovePartitionRequest], Awaitable[router_pb2.PartitionOwner]]


class DiscoveryServicer(discovery_pb2_grpc.DiscoveryServicer):
    def __init__(
        self,
        registry: NodeRegistry,
        move_partition: MovePartition | None = None,
        default_capacity: int = DEFAULT_CAPACITY,
        list_partitions: ListPartitions | None = None,
    ) -> None:
        self._registry = registry
        self._move_partition = move_partition
        self._default_capacity = default_capacity
        self._list_partitions = list_partitions

    @servicer_errors
    async def ListPartitions(
        self, request: discovery_pb2.ListPartitionsRequest, context: Context
    ) -> discovery_pb2.PartitionList:
        if self._list_partitions is None:
            raise NotFound("this discovery service knows no partition map")
        listing = await self._list_partitions()
        placements = [
            router_pb2.PartitionOwner(partition=p, router_id=r) for p, r in sorted(listing.placements.items())
        ]
        return discovery_pb2.PartitionList(map=map_to_proto(listing.map), placements=placements)

    @servicer_errors
    async def SetWeight(
        self, request: discovery_pb2.SetWeightRequest, context: Context
    ) -> discovery_pb2.Node:
        if not request.node_id:
            raise InvalidArgument("node_id is required")
        return node_to_proto(await self._registry.set_weight(request.node_id, request.weight))

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
        edge = await assign_edge(self._registry, request, self._default_capacity)
        return discovery_pb2.EdgeAssignment(edge=node_to_proto(edge))

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

    @servicer_errors
    async def ReportLoad(
        self, request: discovery_pb2.ReportLoadRequest, context: Context
    ) -> discovery_pb2.Node:
        if not request.node_id:
            raise InvalidArgument("node_id is required")
        node = await self._registry.update(
            request.node_id, connections=request.connections, msgs_per_second=request.msgs_per_second
        )
        return node_to_proto(node)

    async def WatchNodes(
        self, request: discovery_pb2.WatchNodesRequest, context: Context
    ) -> AsyncIterator[discovery_pb2.NodeList]:
        """Ends when the registry closes or the caller leaves; a bad kind ends it INVALID_ARGUMENT."""
        try:
            kind = kind_from_proto(request.kind)
        except InvalidArgument as exc:
            await abort_with(context, exc)
            return
        last: list[discovery_pb2.Node] | None = None
        async for nodes in self._registry.watch(kind):
            listed = [node_to_proto(n) for n in nodes if not request.node_id or n.node_id == request.node_id]
            if listed == last:
                continue  # another node changed: nothing new for this watcher
            last = listed
            yield discovery_pb2.NodeList(nodes=listed)
