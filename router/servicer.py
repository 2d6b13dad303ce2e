"""The Router gRPC servicer: one Link stream per edge. It only pumps: batches in go to the
core, the edge's outbox comes back out as RouterBatches; all rules live elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from kernel.errors import InvalidArgument
from kernel.grpc_boundary import abort_with
from protos import router_pb2, router_pb2_grpc
from router.core import RouterCore
from router.links import EdgeLink, LinkTable

log = logging.getLogger(__name__)


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(self, core: RouterCore, links: LinkTable) -> None:
        self._core = core
        self._links = links

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
