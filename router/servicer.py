"""The Router gRPC servicer: one Link stream per edge, pumped by router/link_pump.py (the
same pump an edge in this process uses without gRPC); all rules live elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from discovery.convert import map_to_proto
from kernel.errors import HubbubError, NotFound
from kernel.grpc_boundary import abort_with, servicer_errors
from kernel.ownership import PartitionOwnership
from protos import router_pb2, router_pb2_grpc
from router.handoff import LocalRouters
from router.link_pump import LinkPump


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(
        self,
        pump: LinkPump,
        ownership: PartitionOwnership | None = None,
        routers: LocalRouters | None = None,
    ) -> None:
        self._pump = pump
        self._ownership = ownership
        self._routers = routers

    async def WatchPartitions(
        self, request: router_pb2.WatchPartitionsRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[router_pb2.PartitionMapUpdate]:
        if self._ownership is None:
            await abort_with(context, NotFound("this router has no partition ownership (a static map)"))
            return
        async for partition_map in self._ownership.watch():
            yield map_to_proto(partition_map)

    @servicer_errors
    async def MovePartition(
        self, request: router_pb2.MovePartitionRequest, context: aio.ServicerContext[Any, Any]
    ) -> router_pb2.PartitionOwner:
        if self._routers is None:
            raise NotFound("partitions are not moved from this router")
        owner = await self._routers.move(request.partition, request.router_id)
        return router_pb2.PartitionOwner(
            partition=request.partition, router_id=owner.router_id, target=owner.target, epoch=owner.epoch
        )

    async def Link(
        self,
        request_iterator: AsyncIterator[router_pb2.EdgeBatch],
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[router_pb2.RouterBatch]:
        try:
            async for batch in self._pump.run(request_iterator, "grpc"):
                yield batch
        except HubbubError as exc:  # a first batch without edge_id; the router stopping
            await abort_with(context, exc)
