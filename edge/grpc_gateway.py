"""The gRPC face of the edge: `Gateway.Connect`, one ClientFrame/ServerFrame per message,
driving the same session core as WebSocket clients. Both directions stay bytes here: requests
are decoded by the session's codec (an undecodable one is a BAD_FRAME error, not the end of
the stream), router frames go out as is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from edge.actions import CloseCode
from edge.codec import PROTO
from edge.connection import Connection, EdgeContext
from kernel.grpc_boundary import ERROR_CODE_KEY

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
    CloseCode.RECONNECT: (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
    CloseCode.INTERNAL: (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
    CloseCode.TRY_AGAIN_LATER: (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
}

Context = aio.ServicerContext[bytes, bytes]


class GrpcTransport:
    """Implements outbox.Transport over a Connect stream; responses are serialized bytes."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.closed: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._unsent = 0  # bytes of the batch being written that grpc has not taken yet

    def write_now(self, items: list[bytes]) -> bool:
        return False  # grpc.aio writes are awaited: always the writer task

    def buffered_bytes(self) -> int:
        return self._unsent

    async def send_batch(self, items: list[bytes]) -> None:
        write = self._context.write
        self._unsent = sum(map(len, items))
        try:
            for item in items:
                await write(item)  # returns once grpc took it: a slow reader blocks here
                self._unsent -= len(item)
        finally:
            self._unsent = 0

    async def close(self, code: int, reason: str, final: list[bytes]) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.send_batch(final)
        if not self.closed.done():
            self.closed.set_result((code, reason))


def gateway_handler(ctx: EdgeContext) -> grpc.GenericRpcHandler:
    """A handler for Gateway.Connect that leaves (de)serialization to the connection: requests
    arrive as bytes (grpc bounds them by the server's max receive size, see `server_options`)."""

    async def connect(requests: AsyncIterator[bytes], context: Context) -> None:
        transport = GrpcTransport(context)
        connection = Connection(ctx, PROTO, transport, peer=context.peer(), kind="grpc")
        connection.start()

        async def pump() -> None:
            async for data in requests:
                connection.on_data(data)
                pause_ms = connection.pause_left_ms()
                if pause_ms:  # throttled: stop reading (HTTP/2 pushes back)
                    await asyncio.sleep(pause_ms / 1000)

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
        connect, request_deserializer=None, response_serializer=None
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"Connect": handler})
