"""One edge's Link, whatever carries it (the gRPC servicer, or an edge in this process through
kernel/link_streams.py): attach its outbox, feed its batches to the core in order, hand the
outbox out as RouterBatches, and on the end detach it and drop the edge's sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator

from kernel.errors import InvalidArgument, Unavailable
from protos import router_pb2
from router.core import RouterCore
from router.links import EdgeLink, LinkTable
from router.metrics import LINKS_OPENED

log = logging.getLogger(__name__)


class LinkPump:
    """The router's side of every Link. `run` is one session; `close` (the router stopping)
    refuses new ones, as a stopped gRPC server does."""

    def __init__(self, core: RouterCore, links: LinkTable) -> None:
        self._core = core
        self._links = links
        self._closed = False
        self._starting: set[asyncio.Future[router_pb2.EdgeBatch | None]] = set()

    def close(self) -> None:
        """Refuse new sessions and end those still waiting for their first batch (an edge
        with no sessions yet writes nothing): each ends Unavailable, so its edge reconnects.
        Attached sessions end when their outbox closes (`LinkTable.close_all`)."""
        self._closed = True
        for first in self._starting:
            first.cancel()

    @property
    def starting(self) -> int:
        """Sessions waiting for their first batch (observability, tests)."""
        return len(self._starting)

    def local(
        self, batches: AsyncIterator[router_pb2.EdgeBatch]
    ) -> AsyncGenerator[router_pb2.RouterBatch, None]:
        """A session with an edge in this process (a kernel.link_streams.LinkPump)."""
        return self.run(batches, "local")

    async def run(
        self, batches: AsyncIterator[router_pb2.EdgeBatch], transport: str
    ) -> AsyncGenerator[router_pb2.RouterBatch, None]:
        """Raises InvalidArgument when the first batch names no edge, Unavailable once closed."""
        if self._closed:
            raise Unavailable("router stopping")
        first = await self._first(batches)
        if first is None:
            return
        if not first.edge_id:
            raise InvalidArgument("the first EdgeBatch must carry edge_id")
        link = self._links.attach(first.edge_id)
        LINKS_OPENED.labels(transport).inc()
        log.info("edge %s linked (%s)", link.edge_id, transport)
        reader = asyncio.create_task(self._read(link, first, batches))
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

    async def _first(self, batches: AsyncIterator[router_pb2.EdgeBatch]) -> router_pb2.EdgeBatch | None:
        waiting = asyncio.ensure_future(anext(batches, None))
        self._starting.add(waiting)
        try:
            return await waiting
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and (task is None or not task.cancelling()):
                raise Unavailable("router stopping") from None  # close(), not our caller, cancelled it
            raise
        finally:
            self._starting.discard(waiting)

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
