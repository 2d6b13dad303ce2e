"""An edge in its own process talks to discovery over gRPC: it reports its load
(`Discovery.ReportLoad`, an edge.load_report.LoadSink) and watches its own node's draining
mark (`Discovery.WatchNodes`, an edge.drain.DrainWatch), re-opened with backoff when it breaks."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

from grpc import aio

from kernel.backoff import backoff_delay
from kernel.grpc_boundary import call, error_from_rpc
from kernel.grpc_server import internal_channel
from protos import discovery_pb2, discovery_pb2_grpc

log = logging.getLogger(__name__)
REPORT_TIMEOUT_S = 5.0


class DiscoveryLink:
    """Implements both LoadSink and DrainWatch for one edge over one channel."""

    def __init__(
        self,
        target: str,
        edge_id: str,
        internal_secret: str = "",
        internal_tls_dir: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self._edge_id = edge_id
        self._channel = internal_channel(target, internal_secret, internal_tls_dir)
        self._stub = discovery_pb2_grpc.DiscoveryStub(self._channel)
        self._target = target
        self._rng = rng or random.Random()

    async def report_load(self, connections: int, msgs_per_second: float) -> None:
        request = discovery_pb2.ReportLoadRequest(
            node_id=self._edge_id, connections=connections, msgs_per_second=msgs_per_second
        )
        await call(self._stub.ReportLoad(request, timeout=REPORT_TIMEOUT_S))

    async def draining(self) -> AsyncIterator[bool]:
        """The flag now and at each change, for ever (a broken watch is opened again; while it
        is down the edge keeps its last known state)."""
        request = discovery_pb2.WatchNodesRequest(kind=discovery_pb2.NODE_KIND_EDGE, node_id=self._edge_id)
        last: bool | None = None
        attempt = 0
        while True:
            try:
                async for listing in self._stub.WatchNodes(request):
                    attempt = 0
                    draining = any(n.draining for n in listing.nodes)
                    if draining != last:
                        last = draining
                        yield draining
            except aio.AioRpcError as exc:
                log.info("drain watch on discovery %s lost: %r", self._target, error_from_rpc(exc))
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, self._rng))

    async def close(self) -> None:
        await self._channel.close()
