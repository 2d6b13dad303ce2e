"""How client frames travel: one tiny Transport protocol, with WebSocket (binary protobuf or
proto3 JSON) and gRPC-stream implementations, so the client above never sees a socket."""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol

import grpc
from google.protobuf import json_format
from grpc import aio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from kernel.errors import BadFrame, Unavailable
from kernel.grpc_server import CHANNEL_OPTIONS
from protos import client_pb2, gateway_pb2_grpc

TransportKind = Literal["ws", "ws-json", "grpc"]

SUBPROTOCOL_PROTO = Subprotocol("hubbub.v1.proto")
SUBPROTOCOL_JSON = Subprotocol("hubbub.v1.json")
# A 100,000-character body is at most 400 kB of UTF-8; history pages carry many.
MAX_FRAME_BYTES = 16 * 1024 * 1024


class TransportClosed(Unavailable):
    """The connection is gone (closed by either side or broken); the client may reconnect."""


class Transport(Protocol):
    """One connection to an edge, one ClientFrame/ServerFrame per message."""

    async def send(self, frame: client_pb2.ClientFrame) -> None: ...

    async def recv(self) -> client_pb2.ServerFrame:
        """The next frame; raises TransportClosed once the connection is gone."""
        ...

    async def close(self) -> None: ...


class WebSocketTransport:
    """WebSocket with the binary protobuf subprotocol (default) or the proto3 JSON one."""

    def __init__(self, ws: ClientConnection, *, json: bool) -> None:
        self._ws = ws
        self._json = json

    @classmethod
    async def open(cls, url: str, *, json: bool = False, open_timeout: float = 10.0) -> WebSocketTransport:
        subprotocol = SUBPROTOCOL_JSON if json else SUBPROTOCOL_PROTO
        try:
            ws = await connect(
                url,
                subprotocols=[subprotocol],
                compression=None,
                max_size=MAX_FRAME_BYTES,
                open_timeout=open_timeout,
                ping_interval=None,  # the protocol has its own Ping frames
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise TransportClosed(f"cannot connect to {url}: {exc}") from exc
        return cls(ws, json=json)

    async def send(self, frame: client_pb2.ClientFrame) -> None:
        data: str | bytes = (
            json_format.MessageToJson(frame, indent=None) if self._json else frame.SerializeToString()
        )
        try:
            await self._ws.send(data)
        except ConnectionClosed as exc:
            raise TransportClosed(f"connection closed: {exc}") from exc

    async def recv(self) -> client_pb2.ServerFrame:
        try:
            data = await self._ws.recv()
        except ConnectionClosed as exc:
            raise TransportClosed(f"connection closed: {exc}") from exc
        frame = client_pb2.ServerFrame()
        try:
            if isinstance(data, str):
                json_format.Parse(data, frame, ignore_unknown_fields=True)
            else:
                frame.ParseFromString(data)
        except (json_format.ParseError, ValueError) as exc:
            raise BadFrame(f"undecodable server frame: {exc}") from exc
        return frame

    async def close(self) -> None:
        await self._ws.close()


def rpc_error_line(exc: BaseException) -> str:
    """A gRPC failure as one line for a person (`UNAVAILABLE: failed to connect to all
    addresses; ...`), not AioRpcError's multi-line repr with its debug string."""
    if isinstance(exc, aio.AioRpcError):
        details = " ".join((exc.details() or "").split())
        return f"{exc.code().name}: {details}" if details else exc.code().name
    return " ".join(str(exc).split())


class GrpcTransport:
    """The `Gateway.Connect` bidi stream: same frames, HTTP/2 underneath."""

    def __init__(
        self, channel: aio.Channel, call: aio.StreamStreamCall[client_pb2.ClientFrame, client_pb2.ServerFrame]
    ) -> None:
        self._channel = channel
        self._call = call
        self._closed = False

    @classmethod
    async def open(cls, target: str) -> GrpcTransport:
        channel = aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        call = gateway_pb2_grpc.GatewayStub(channel).Connect()
        return cls(channel, call)

    async def send(self, frame: client_pb2.ClientFrame) -> None:
        try:
            await self._call.write(frame)
        except (grpc.RpcError, aio.UsageError) as exc:
            raise TransportClosed(f"stream closed: {rpc_error_line(exc)}") from exc

    async def recv(self) -> client_pb2.ServerFrame:
        try:
            frame = await self._call.read()
        except grpc.RpcError as exc:
            raise TransportClosed(f"stream closed: {rpc_error_line(exc)}") from exc
        except asyncio.CancelledError:
            if self._closed:  # our own close() cancelled the call under a pending read
                raise TransportClosed("stream closed") from None
            raise
        if frame is aio.EOF:
            raise TransportClosed("stream ended")
        assert isinstance(frame, client_pb2.ServerFrame)
        return frame

    async def close(self) -> None:
        self._closed = True
        self._call.cancel()
        await self._channel.close()


async def open_transport(target: str, kind: TransportKind = "ws") -> Transport:
    """Connect to `target`: a ws:// URL for "ws"/"ws-json", a host:port for "grpc"."""
    if kind == "grpc":
        return await GrpcTransport.open(target)
    return await WebSocketTransport.open(target, json=kind == "ws-json")
