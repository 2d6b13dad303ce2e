"""The load generator's client WebSocket, whichever library carries it (`--client`): one small
interface, one module per library (bench/client_websockets.py, bench/client_picows.py).

Both speak real WebSocket as a browser would: masked client frames, the subprotocol asked
for and checked in the server's answer, close handshakes, pongs to pings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

CLIENTS = ("picows", "websockets")
DEFAULT_CLIENT = "picows"
"""The cheaper by the generator's CPU per delivery (docs/performance.md, "The load generator")."""

OnData = Callable[[bytes | str], None]
"""Called with each whole message received: bytes (binary, or text from picows) or str (text
from websockets). Both the JSON decoder and protobuf take either as they come."""
OnClosed = Callable[[], None]
"""Called once when the connection has ended, however it ended."""


class SocketClosed(ConnectionError):
    """A send on a connection that has closed (the bench drops such a send: the server is gone)."""


class ClientSocket(Protocol):
    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose (None when none was asked for)."""
        ...

    async def send(self, data: bytes | str) -> None:
        """One message: bytes as a binary frame, str as a text frame. SocketClosed once closed."""
        ...

    async def close(self) -> None:
        """The close handshake, then wait (bounded) until the connection has ended."""
        ...


Opener = Callable[[str, str | None, OnData, OnClosed, float, tuple[str, int] | None], Awaitable[ClientSocket]]
"""(url, subprotocol, on_data, on_closed, timeout_s, local_addr) -> an open connection."""
