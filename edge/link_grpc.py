"""The Link to a router in another process: one gRPC bidi stream on its own channel (the
kernel.link_streams.LinkStream the edge writes and reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from grpc import aio

from kernel.grpc_server import internal_channel
from protos.router_pb2 import RouterBatch

LINK_METHOD = "/hubbub.v1.Router/Link"
LinkCall = aio.StreamStreamCall[bytes, RouterBatch]


class GrpcLinkStream:
    """Requests go out as bytes already encoded (edge.wire); replies are parsed as usual."""

    def __init__(self, target: str, metadata: Sequence[tuple[str, str]], internal_tls_dir: str = "") -> None:
        self._channel = internal_channel(target, internal_tls_dir=internal_tls_dir)
        # The secret goes on the call, not by an interceptor: an intercepted stream proxies every write.
        self._call: LinkCall = self._channel.stream_stream(
            LINK_METHOD, request_serializer=None, response_deserializer=RouterBatch.FromString
        )(metadata=metadata)

    async def write(self, batch: bytes) -> None:
        await self._call.write(batch)

    def __aiter__(self) -> AsyncIterator[RouterBatch]:
        return self._call.__aiter__()

    async def close(self) -> None:
        self._call.cancel()
        await self._channel.close()
