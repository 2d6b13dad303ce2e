"""A deliberately small raw WebSocket client for end-to-end tests: binary protobuf frames,
replies matched by `ref`, pushes queued in arrival order. No reconnect, no smarts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protos import client_pb2 as pb

TIMEOUT_S = 15.0


class WireClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._refs = itertools.count(1)
        self._pending: dict[int, asyncio.Future[pb.ServerFrame]] = {}
        self.pushes: asyncio.Queue[pb.ServerFrame] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.welcome = pb.Welcome()
        self._reader = asyncio.create_task(self._read())
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str) -> WireClient:
        ws = await connect(url, subprotocols=["hubbub.v1.proto"], compression=None, max_size=2**22)  # type: ignore[list-item]
        return cls(ws)

    @classmethod
    async def sign_up(cls, url: str, user_id: str, device_id: str = "d1") -> WireClient:
        client = await cls.open(url)
        reply = await client.request(
            pb.ClientFrame(
                hello=pb.Hello(
                    sign_up=pb.Credentials(user_id=user_id, password="correct horse battery"),
                    device_id=device_id,
                )
            )
        )
        assert reply.WhichOneof("kind") == "welcome", reply
        client.welcome = reply.welcome
        return client

    @classmethod
    async def with_token(cls, url: str, token: str, device_id: str) -> WireClient:
        client = await cls.open(url)
        reply = await client.request(pb.ClientFrame(hello=pb.Hello(token=token, device_id=device_id)))
        assert reply.WhichOneof("kind") == "welcome", reply
        client.welcome = reply.welcome
        return client

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                frame = pb.ServerFrame.FromString(data if isinstance(data, bytes) else data.encode())
                waiter = self._pending.pop(frame.ref, None) if frame.ref else None
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame)
                else:
                    self.pushes.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("connection closed"))

    async def send_frame(self, frame: pb.ClientFrame) -> None:
        await self.ws.send(frame.SerializeToString())

    async def request(self, frame: pb.ClientFrame) -> pb.ServerFrame:
        frame.ref = next(self._refs)
        waiter: asyncio.Future[pb.ServerFrame] = asyncio.get_running_loop().create_future()
        self._pending[frame.ref] = waiter
        await self.send_frame(frame)
        async with asyncio.timeout(TIMEOUT_S):
            return await waiter

    async def send_text(self, conversation_id: int, body: str, client_msg_id: str) -> pb.ServerFrame:
        return await self.request(
            pb.ClientFrame(
                send=pb.SendMessage(
                    conversation_id=conversation_id,
                    client_msg_id=client_msg_id,
                    content_type="text/plain",
                    body=body,
                )
            )
        )

    async def next_push(
        self, kind: str, where: Callable[[pb.ServerFrame], bool] = lambda f: True
    ) -> pb.ServerFrame:
        """The next push of `kind` matching `where`; other pushes before it are dropped."""
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                frame = await self.pushes.get()
                if frame.WhichOneof("kind") == kind and where(frame):
                    return frame

    async def messages(self, count: int, conversation_id: int) -> list[pb.Message]:
        """The next `count` Message pushes of one conversation (other pushes are dropped)."""
        got: list[pb.Message] = []
        while len(got) < count:
            frame = await self.next_push("message", lambda f: f.message.conversation_id == conversation_id)
            got.append(frame.message)
        return got

    def drain_pushes(self) -> list[pb.ServerFrame]:
        frames = []
        while not self.pushes.empty():
            frames.append(self.pushes.get_nowait())
        return frames

    def keep_alive(self, interval_s: float = 0.5) -> None:
        """Ping on a heartbeat, as a real client does (the edge closes silent connections)."""

        async def beat() -> None:
            with contextlib.suppress(ConnectionClosed):
                while not self.closed.is_set():
                    await self.send_frame(pb.ClientFrame(ping=pb.Ping()))
                    await asyncio.sleep(interval_s)

        self._heartbeat = asyncio.create_task(beat())

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
