"""The Router gRPC servicer: one Link stream per edge. It only pumps: batches in go to the
core, the edge's outbox comes back out as RouterBatches; all rules live elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from discovery.convert import map_to_proto
from kernel.errors import InvalidArgument, NotFound
from kernel.grpc_boundary import abort_with, servicer_errors
from kernel.ownership import PartitionOwnership
from protos import router_pb2, router_pb2_grpc
from router.core import RouterCore
from router.handoff import LocalRouters
from router.links import EdgeLink, LinkTable

log = logging.getLogger(__name__)


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(
        self,
        core: RouterCore,
        links: LinkTable,
        ownership: PartitionOwnership | None = None,
        routers: LocalRouters | None = None,
    ) -> None:
        self._core = core
        self._links = links
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
        first = await anext(request_iterator, None)
        if first is None:
            return
        if not first.edge_id:
            await abort_with(context, InvalidArgument("the first EdgeBatch must carry edge_id"))
            return
        link = self._links.attach(first.edge_id)
        log.info("edge %s linked", link.edge_id)
        reader = asyncio.create_task(self._read(link, first, request_iterator))
        try:
            while True:
                batch = await link.next_batch()
                if batch is None:
                    break
                yield batch
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            if self._links.detach(link):
                await self._core.edge_gone(link.edge_id)

    async def _read(
        self, link: EdgeLink, first: router_pb2.EdgeBatch, rest: AsyncIterator[router_pb2.EdgeBatch]
    ) -> None:
        try:
            await self._core.handle_batch(link.edge_id, first)
            async for batch in rest:
                await self._core.handle_batch(link.edge_id, batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the edge went away mid-read
            log.info("edge %s link read ended: %r", link.edge_id, exc)
        finally:
            link.close()
