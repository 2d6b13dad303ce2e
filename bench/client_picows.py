"""The generator's connections on picows, a Cython WebSocket library: each frame reaches the
bench's callback straight from the socket's read, with no task wake-up and no Python frame
parser in between, which is where websockets' client spent most of the generator's CPU.
"""

from __future__ import annotations

import asyncio
import contextlib

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.client_socket import OnClosed, OnData, SocketClosed

CLOSE_TIMEOUT_S = 10.0


class _Listener(WSListener):
    """Whole messages to `on_data` (fragments joined), the server's close answered."""

    def __init__(self, on_data: OnData, on_closed: OnClosed) -> None:
        self.on_data = on_data
        self.on_closed = on_closed
        self._parts: list[bytes] = []
        # Cleared while the socket's write buffer is over its high-water mark: a send waits,
        # so the generator's own backlog stays in the kernel's buffers, not unbounded here.
        self.writable = asyncio.Event()
        self.writable.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.BINARY or kind is WSMsgType.TEXT:
            if frame.fin:
                self.on_data(frame.get_payload_as_bytes())
            else:
                self._parts = [frame.get_payload_as_bytes()]
        elif kind is WSMsgType.CONTINUATION:
            self._parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                data, self._parts = b"".join(self._parts), []
                self.on_data(data)
        elif kind is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        # PING: picows answers it (enable_auto_pong); PONG: nothing to do

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.writable.set()  # a send waiting for room finds the connection closed
        self.on_closed()


class PicowsSocket:
    def __init__(self, transport: WSTransport, listener: _Listener) -> None:
        self.transport = transport
        self._writable = listener.writable

    @property
    def subprotocol(self) -> str | None:
        chosen: str | None = self.transport.response.headers.get("Sec-WebSocket-Protocol")
        return chosen

    async def send(self, data: bytes | str) -> None:
        if not self._writable.is_set():
            await self._writable.wait()
        transport = self.transport
        if transport.is_close_frame_sent or transport.is_disconnected:
            raise SocketClosed("the connection has closed")
        if isinstance(data, bytes):
            transport.send(WSMsgType.BINARY, data)
        else:
            transport.send(WSMsgType.TEXT, data.encode())

    async def close(self) -> None:
        transport = self.transport
        if not transport.is_disconnected:
            transport.send_close(WSCloseCode.OK)
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await transport.wait_disconnected()
            except TimeoutError:
                transport.disconnect(graceful=False)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await transport.wait_disconnected()


async def open_picows(
    url: str,
    subprotocol: str | None,
    on_data: OnData,
    on_closed: OnClosed,
    timeout_s: float,
    local_addr: tuple[str, int] | None = None,
) -> PicowsSocket:
    headers = {"Sec-WebSocket-Protocol": subprotocol} if subprotocol else None
    async with asyncio.timeout(timeout_s):
        transport, listener = await ws_connect(
            lambda: _Listener(on_data, on_closed),
            url,
            websocket_handshake_timeout=timeout_s,
            max_frame_size=2**24,
            extra_headers=headers,
            local_addr=local_addr,
        )
    assert isinstance(listener, _Listener)
    return PicowsSocket(transport, listener)
