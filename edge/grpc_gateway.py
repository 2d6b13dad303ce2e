"""The gRPC face of the edge: `Gateway.Connect`, one ClientFrame/ServerFrame per message,
driving the same session core as WebSocket clients. Router frames go out as raw bytes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from edge.actions import CloseCode
from edge.codec import PROTO
from edge.connection import Connection, EdgeContext
from kernel.grpc_boundary import ERROR_CODE_KEY
from protos.client_pb2 import ClientFrame

log = logging.getLogger(__name__)
SERVICE = "hubbub.v1.Gateway"
WRITE_TIMEOUT_S = 5.0

# Close code -> (gRPC status, stable code) to end the stream with.
_STATUS: dict[int, tuple[grpc.StatusCode, str]] = {
    CloseCode.BAD_FRAME: (grpc.StatusCode.INVALID_ARGUMENT, "BAD_FRAME"),
    CloseCode.UNAUTHENTICATED: (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
    CloseCode.HEARTBEAT_TIMEOUT: (grpc.StatusCode.DEADLINE_EXCEEDED, "HEARTBEAT_TIMEOUT"),
    CloseCode.SLOW_CONSUMER: (grpc.StatusCode.RESOURCE_EXHAUSTED, "SLOW_CONSUMER"),
    CloseCode.GOING_AWAY: (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
    CloseCode.INTERNAL: (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
    CloseCode.TRY_AGAIN_LATER: (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
}

Context = aio.ServicerContext[ClientFrame, bytes]


class GrpcTransport:
    """Implements outbox.Transport over a Connect stream; responses are serialized bytes."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    def write_now(self, items: list[bytes]) -> bool:
        return False  # grpc.aio writes are awaited: always the writer task

    async def send_batch(self, items: list[bytes]) -> None:
        write = self._context.write
        for item in items:
            await write(item)

    async def close(self, code: int, reason: str, final: list[bytes]) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.send_batch(final)
        if not self.closed.done():
            self.closed.set_result((code, reason))


def gateway_handler(ctx: EdgeContext) -> grpc.GenericRpcHandler:
    """A handler for Gateway.Connect whose responses skip re-serialization (bytes as is)."""

    async def connect(requests: AsyncIterator[ClientFrame], context: Context) -> None:
        transport = GrpcTransport(context)
        connection = Connection(ctx, PROTO, transport, peer_host(context.peer()))
        connection.start()

        async def pump() -> None:
            async for frame in requests:
                connection.on_frame(frame)
                if connection.paused_until_ms:  # throttled: stop reading (HTTP/2 pushes back)
                    await asyncio.sleep(
                        max(0, connection.paused_until_ms - time.monotonic_ns() // 1_000_000) / 1000
                    )

        reader = asyncio.ensure_future(pump())
        waiters: set[asyncio.Future[Any]] = {reader, transport.closed}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            await connection.finish()
        if transport.closed.done():
            code, reason = transport.closed.result()
            if code not in (CloseCode.NORMAL,):
                status, stable = _STATUS.get(code, (grpc.StatusCode.INTERNAL, "INTERNAL"))
                context.set_trailing_metadata(((ERROR_CODE_KEY, stable),))
                await context.abort(status, reason)

    handler: Any = grpc.stream_stream_rpc_method_handler(
        connect, request_deserializer=ClientFrame.FromString, response_serializer=None
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"Connect": handler})


def peer_host(peer: str) -> str:
    """The address part of a gRPC peer string ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678")."""
    _, _, rest = peer.partition(":")
    host, _, _ = rest.rpartition(":")
    return host.strip("[]") or rest
