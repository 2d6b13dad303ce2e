"""The partition map for an edge in another process than the ownership service: a
`Router.WatchPartitions` stream from one of the configured routers (the first that answers),
re-opened with backoff when it breaks. In a cluster the edge watches ZooKeeper instead; both
are a kernel.ownership.MapWatch.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

from grpc import aio

from discovery.convert import map_from_proto
from kernel.backoff import backoff_delay
from kernel.errors import ErrorCode, HubbubError
from kernel.grpc_boundary import error_from_rpc
from kernel.grpc_server import internal_channel
from kernel.ownership import PartitionMap
from protos import router_pb2, router_pb2_grpc

log = logging.getLogger(__name__)


class RemoteMapWatch:
    def __init__(
        self,
        targets: tuple[str, ...],
        internal_secret: str = "",
        internal_tls_dir: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self._targets = targets
        self._secret = internal_secret
        self._tls_dir = internal_tls_dir
        self._rng = rng or random.Random()

    async def watch(self) -> AsyncIterator[PartitionMap]:
        """Maps in version order, for ever; ends only if no router serves a map (static)."""
        attempt = 0
        seen = -1
        index = 0
        while self._targets:
            target = self._targets[index % len(self._targets)]
            index += 1
            channel = internal_channel(target, self._secret, self._tls_dir)
            try:
                stub = router_pb2_grpc.RouterStub(channel)
                stream = stub.WatchPartitions(router_pb2.WatchPartitionsRequest())
                async for update in stream:
                    partition_map = map_from_proto(update)
                    attempt = 0
                    if partition_map.version > seen:
                        seen = partition_map.version
                        yield partition_map
            except aio.AioRpcError as exc:
                error = error_from_rpc(exc)
                if error.code is ErrorCode.NOT_FOUND:
                    log.info("router %s serves no partition map: routing by the static map", target)
                    return
                log.info("partition watch on %s lost: %r", target, error)
            except HubbubError as exc:
                log.warning("partition watch on %s: bad map: %r", target, exc)
            finally:
                await channel.close()
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, self._rng))
