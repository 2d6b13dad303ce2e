"""A minimal test client for the edge's WebSocket face, binary or JSON, with timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from google.protobuf import json_format
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from kernel.tokens import issue_token
from protos import client_pb2 as pb
from tests.edge.fakes import NOW_MS, SECRET

TIMEOUT_S = 30.0


def token_for(user: str) -> str:
    return issue_token(SECRET, user, NOW_MS, 3_600_000)[0]


class WsClient:
    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary

    @classmethod
    async def open(cls, url: str, *, binary: bool = True, **kwargs: Any) -> WsClient:
        subprotocols = [Subprotocol("hubbub.v1.proto")] if binary else None
        ws = await connect(url, subprotocols=subprotocols, compression=None, max_size=2**22, **kwargs)
        return cls(ws, binary)

    @classmethod
    async def authed(
        cls, url: str, user: str, *, binary: bool = True, **kwargs: Any
    ) -> tuple[WsClient, pb.Welcome]:
        client = await cls.open(url, binary=binary, **kwargs)
        await client.send(
            pb.ClientFrame(ref=1, hello=pb.Hello(token=token_for(user), device_id=f"{user}-dev"))
        )
        reply = await client.recv()
        assert reply.WhichOneof("kind") == "welcome", reply
        return client, reply.welcome

    async def send(self, frame: pb.ClientFrame) -> None:
        if self.binary:
            await self.ws.send(frame.SerializeToString())
        else:
            await self.ws.send(orjson.dumps(json_format.MessageToDict(frame)).decode())

    async def recv(self) -> pb.ServerFrame:
        async with asyncio.timeout(TIMEOUT_S):
            data = await self.ws.recv()
        if self.binary:
            assert isinstance(data, bytes)
            return pb.ServerFrame.FromString(data)
        assert isinstance(data, str)
        frame = pb.ServerFrame()
        json_format.Parse(data, frame)
        return frame

    async def recv_kind(self, kind: str) -> pb.ServerFrame:
        """The next frame of this kind, skipping others (pushes may interleave)."""
        while True:
            frame = await self.recv()
            if frame.WhichOneof("kind") == kind:
                return frame

    async def request(self, frame: pb.ClientFrame) -> pb.ServerFrame:
        await self.send(frame)
        while True:
            reply = await self.recv()
            if reply.ref == frame.ref:
                return reply

    async def assert_serving(self, ref: int = 999) -> None:
        reply = await self.request(pb.ClientFrame(ref=ref, ping=pb.Ping(client_time_ms=5)))
        assert reply.WhichOneof("kind") == "pong"

    async def wait_closed(self) -> int | None:
        async with asyncio.timeout(TIMEOUT_S):
            await self.ws.wait_closed()
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
