"""The WebSocket face of the edge (websockets 17, asyncio): negotiates the subprotocol and
pumps frames between the socket and a Connection; the protocol rules live in the session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Sequence
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from edge.codec import SUBPROTOCOLS, codec_for
from edge.connection import Connection, EdgeContext
from edge.static_files import WebFiles
from edge.ws_direct import DirectServerConnection

log = logging.getLogger(__name__)
# websockets' own per-connection INFO lines ("connection open", "connection closed") name no
# user or session: Connection logs those events with who it is. Its warnings still show.
_library_log = log.getChild("websockets")
_library_log.setLevel(logging.WARNING)
THROTTLED_RCVBUF = 16 * 1024  # a flooding client's socket receive buffer (see pause_reading)
CLOSE_TIMEOUT_S = 5.0
LISTEN_BACKLOG = 4096
"""Connections the kernel holds for the edge to accept (it caps this at net.core.somaxconn).
asyncio's default of 100 overflowed in a reconnect storm (2,000 clients at once: ~800 dropped
handshakes a run), and each dropped one costs its client a SYN retransmit: 1 s, then 3 s."""


class WebSocketTransport:
    """Implements outbox.Transport over a websockets ServerConnection."""

    __slots__ = ("_text", "_ws")

    def __init__(self, ws: ServerConnection, text: bool) -> None:
        self._ws = ws
        self._text = text

    def pause_reading(self, ms: int) -> None:
        """Read nothing from a flooding client for `ms`: TCP pushes back on it, nobody else.
        Its receive buffer is also shrunk, so each later read (parsed in one go) stays small."""
        transport = self._ws.transport
        if transport.is_closing():
            return
        transport.pause_reading()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, THROTTLED_RCVBUF)

        def resume() -> None:
            if not transport.is_closing():
                transport.resume_reading()

        asyncio.get_running_loop().call_later(ms / 1000, resume)

    def write_now(self, items: list[bytes]) -> bool:
        ws = self._ws
        protocol = ws.protocol
        if protocol.state is not State.OPEN or ws.paused or ws.transport.is_closing():
            return False  # back-pressure or closing: send_batch awaits / reports it
        # Frames built by the sans-I/O protocol, handed to the socket in one write.
        send = protocol.send_text if self._text else protocol.send_binary
        for item in items:
            send(item)
        ws.transport.write(b"".join(protocol.data_to_send()))
        return True

    def buffered_bytes(self) -> int:
        return self._ws.transport.get_write_buffer_size()

    async def send_batch(self, items: list[bytes]) -> None:
        ws = self._ws
        # One socket write and one drain for the whole batch: frames are built by the sans-I/O
        # protocol, then handed to the transport together (send_context drains on exit).
        async with ws.send_context():
            protocol = ws.protocol
            send = protocol.send_text if self._text else protocol.send_binary
            for item in items:
                send(item)
            chunks = protocol.data_to_send()
            if chunks:
                ws.transport.write(b"".join(chunks))

    async def close(self, code: int, reason: str, final: list[bytes]) -> None:
        ws = self._ws
        if ws.protocol.state is State.OPEN:
            # Written without awaiting the peer: a slow consumer must not delay its own close.
            send = ws.protocol.send_text if self._text else ws.protocol.send_binary
            for item in final:
                send(item)
            ws.protocol.send_close(code, reason)
            ws.send_data()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.wait_closed()
        except TimeoutError:
            ws.transport.abort()
        except asyncio.CancelledError:
            # The handler awaits the same lost-connection future unshielded (edge/ws_direct.py):
            # a cancelled handler cancels it under this wait too. The socket is aborted either
            # way; only our own cancellation goes on up.
            ws.transport.abort()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise


def web_client_responder(web: WebFiles) -> Callable[[ServerConnection, Request], Response | None]:
    """A request that asks for no WebSocket upgrade is a browser loading the web client."""

    def process_request(_: ServerConnection, request: Request) -> Response | None:
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None  # the WebSocket handshake goes on
        reply = web.reply(request.method, request.path)
        headers = Headers(reply.headers)
        headers["Content-Length"] = str(len(reply.body))
        headers["Connection"] = "close"
        return Response(reply.status, HTTPStatus(reply.status).phrase, headers, reply.body)

    return process_request


def select_subprotocol(_: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """The client's first supported choice; none offered (or none known) = JSON, no header."""
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


async def start_websocket_server(
    ctx: EdgeContext, host: str, port: int, *, max_size: int, compression: bool, media_origin: str = ""
) -> Server:
    async def handler(ws: ServerConnection) -> None:
        assert isinstance(ws, DirectServerConnection)
        ws.forget_handshake()  # the subprotocol is chosen: the headers are dead weight
        codec = codec_for(ws.subprotocol)
        connection = Connection(
            ctx,
            codec,
            WebSocketTransport(ws, codec.text),
            peer=_peer(ws),
            kind="ws_json" if codec.text else "ws_proto",
        )
        connection.start()
        try:
            # Messages are fed from the socket callback (no per-frame task hop); this task
            # only waits for the end of the connection (unshielded: ws.lost() says why).
            ws.attach(connection)
            await ws.lost()
        finally:
            ws.revive_lost()
            await connection.finish()

    return await serve(
        handler,
        host,
        port,
        subprotocols=[Subprotocol(name) for name in SUBPROTOCOLS],
        select_subprotocol=select_subprotocol,
        compression="deflate" if compression else None,
        max_size=max_size,
        ping_interval=None,  # liveness is the protocol's own Ping/heartbeat_timeout
        close_timeout=CLOSE_TIMEOUT_S,
        create_connection=DirectServerConnection,
        process_request=web_client_responder(WebFiles(media_origin=media_origin)),
        logger=_library_log,
        backlog=LISTEN_BACKLOG,
    )


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else str(address)


async def close_all(ctx: EdgeContext, code: int, reason: str) -> None:
    """Close every client connection (shutdown), concurrently and bounded in time."""
    members = [m for m in ctx.hub.members() if isinstance(m, Connection)]
    with contextlib.suppress(Exception):
        await asyncio.gather(*(m.close(code, reason) for m in members), return_exceptions=True)
