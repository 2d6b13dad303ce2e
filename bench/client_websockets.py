"""The generator's connections on websockets' asyncio client (the SDK's library): a reader task
per connection hands each message to the bench's callback."""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.client_socket import OnClosed, OnData, SocketClosed


class WebsocketsSocket:
    def __init__(self, ws: ClientConnection, on_data: OnData, on_closed: OnClosed) -> None:
        self.ws = ws
        self._reader = asyncio.create_task(self._read(on_data, on_closed))

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send(self, data: bytes | str) -> None:
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            raise SocketClosed(str(exc)) from exc

    async def close(self) -> None:
        await self.ws.close()
        await self._reader

    async def _read(self, on_data: OnData, on_closed: OnClosed) -> None:
        try:
            with contextlib.suppress(ConnectionClosed):
                async for data in self.ws:
                    on_data(data)
        finally:
            on_closed()


async def open_websockets(
    url: str,
    subprotocol: str | None,
    on_data: OnData,
    on_closed: OnClosed,
    timeout_s: float,
    local_addr: tuple[str, int] | None = None,
) -> WebsocketsSocket:
    ws = await connect(
        url,
        subprotocols=[Subprotocol(subprotocol)] if subprotocol else None,
        compression=None,
        max_size=2**24,
        ping_interval=None,
        open_timeout=timeout_s,
        local_addr=local_addr,
    )
    return WebsocketsSocket(ws, on_data, on_closed)
