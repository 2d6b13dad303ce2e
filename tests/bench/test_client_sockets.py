"""Both generator client libraries speak real WebSocket to a websockets server (which refuses
unmasked client frames): the subprotocol asked for and checked, whole messages out of
fragments, text and binary kept apart, pings answered, a clean close, SocketClosed after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.client_socket import CLIENTS, SocketClosed
from bench.loadgen import open_socket

SUBPROTOCOL = "hubbub.v1.proto"


class Server:
    """Echoes each message in three fragments, pings first; remembers how each connection ended."""

    def __init__(self) -> None:
        self.close_codes: list[int | None] = []
        self.pongs = 0
        self.url = ""
        self.ended = asyncio.Event()

    async def handle(self, ws: ServerConnection) -> None:
        try:
            async for data in ws:
                await (await ws.ping())  # answered by the client, or this waits forever
                self.pongs += 1
                third = max(1, len(data) // 3)
                await ws.send([data[:third], data[third : 2 * third], data[2 * third :]])
        except ConnectionClosed:
            pass
        self.close_codes.append(ws.close_code)
        self.ended.set()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    echo = Server()
    select = lambda ws, offered: Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None  # noqa: E731
    async with serve(echo.handle, "127.0.0.1", 0, compression=None, select_subprotocol=select) as running:
        host, port = next(iter(running.sockets)).getsockname()[:2]
        echo.url = f"ws://{host}:{port}"
        yield echo


@pytest.mark.parametrize("client", CLIENTS)
async def test_messages_go_out_masked_and_come_back_whole(server: Server, client: str) -> None:
    got: list[bytes | str] = []
    arrived = asyncio.Event()
    closed = asyncio.Event()

    def on_data(data: bytes | str) -> None:
        got.append(data)
        if len(got) == 2:
            arrived.set()

    socket = await open_socket(server.url, SUBPROTOCOL, on_data, closed.set, client=client)
    assert socket.subprotocol == SUBPROTOCOL
    await socket.send(b"\x08\x01" * 50)
    await socket.send('{"ref":"1"}')
    async with asyncio.timeout(10):
        await arrived.wait()
    binary, text = got
    assert binary == b"\x08\x01" * 50
    assert (text.encode() if isinstance(text, str) else text) == b'{"ref":"1"}'
    assert server.pongs == 2
    await socket.close()
    assert closed.is_set()
    with pytest.raises(SocketClosed):
        await socket.send(b"late")
    async with asyncio.timeout(10):
        await server.ended.wait()
    assert server.close_codes == [1000]


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_server_that_ignores_the_subprotocol_is_refused(server: Server, client: str) -> None:
    with pytest.raises(ConnectionError, match="the server chose None"):
        await open_socket(server.url, "hubbub.v1.json", lambda _: None, lambda: None, client=client)
