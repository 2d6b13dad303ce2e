"""A websockets ServerConnection that hands each complete message to the edge from the
socket callback itself, instead of queueing it for a reader task (one task hop per frame)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.frames import BINARY, CONT, TEXT, Frame
from websockets.protocol import Event

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes | str], None]
OnBadData = Callable[[str], None]


class _NoMessages:
    """Stands in for websockets' Assembler, which this class never feeds: data frames go to
    the callbacks, so a per-connection Assembler (a queue, a deque, two bound methods) would
    only cost memory. One shared, stateless instance; `recv()` on it is a bug, said loudly."""

    __slots__ = ()

    def close(self) -> None:
        """Called by websockets when the connection is lost: nothing waits here."""

    def put(self, frame: Frame) -> None:
        raise RuntimeError("DirectServerConnection hands messages to callbacks, not to recv()")

    async def get(self, decode: bool | None = None) -> Any:
        raise RuntimeError("DirectServerConnection hands messages to callbacks, not to recv()")


_NO_MESSAGES = cast(Assembler, _NoMessages())
_NO_HEADERS = Headers()  # shared by every connection past its handshake; never written to


class DirectServerConnection(ServerConnection):
    """Data messages go to `attach`'s callbacks (text as str, binary as bytes), in order.

    Messages that arrive before `attach` wait and are handed over on attach. Control frames
    and the handshake are left to websockets. The callbacks must not await.

    Memory matters here (one instance per idle client): our own state lives in slots, not in
    the inherited instance dict (which would grow), and buffers exist only while in use.
    """

    __slots__ = ("_early", "_on_bad_data", "_on_message", "_parts", "_text")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # websockets wraps its logger per connection (an adapter, a dict, a weak proxy) only
        # to name the connection in log records; the edge's formatters never use that.
        adapter = self.protocol.logger
        if isinstance(adapter, logging.LoggerAdapter):
            self.protocol.logger = self.logger = adapter.logger
        # websockets appends, removes and iterates drain waiters: a list does that, and an
        # empty list is an eighth of an empty deque.
        self.drain_waiters = cast(Any, [])
        self._on_message: OnMessage | None = None
        self._on_bad_data: OnBadData | None = None
        self._early: list[bytes | str | None] | None = None  # None in it = a text message that was not UTF-8
        self._parts: list[bytes | bytearray | memoryview] | None = None  # fragments of an unfinished message
        self._text = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # also starts the handler task
        self.recv_messages = _NO_MESSAGES  # the Assembler it made is freed (see _NoMessages)

    def attach(self, on_message: OnMessage, on_bad_data: OnBadData) -> None:
        self._on_message = on_message
        self._on_bad_data = on_bad_data
        early, self._early = self._early, None
        for message in early or ():
            self._hand_over(message)

    def forget_handshake(self) -> None:
        """Drop the handshake's headers (a few KiB per connection) once nothing needs them."""
        if self.request is not None:
            self.request.headers = _NO_HEADERS
        if self.response is not None:
            self.response.headers = _NO_HEADERS

    def process_event(self, event: Event) -> None:
        if self.request is None or not isinstance(event, Frame) or event.opcode not in (BINARY, TEXT, CONT):
            super().process_event(event)
            return
        if event.opcode is CONT:
            if self._parts is None:  # a continuation with no start: the protocol rejects it first
                self._parts = []
            self._parts.append(event.data)
        else:
            self._text = event.opcode is TEXT
            if event.fin:  # the common case: one frame, one message
                self._complete(event.data)
                return
            self._parts = [event.data]
        if event.fin:
            data = b"".join(self._parts or ())
            self._parts = None
            self._complete(data)

    def _complete(self, data: bytes | bytearray | memoryview) -> None:
        message: bytes | str | None = data if isinstance(data, bytes) else bytes(data)
        if self._text:
            try:
                message = bytes(data).decode()
            except UnicodeDecodeError:
                message = None
        if self._on_message is None:
            if self._early is None:
                self._early = []
            self._early.append(message)
        else:
            self._hand_over(message)

    def _hand_over(self, message: bytes | str | None) -> None:
        assert self._on_message is not None and self._on_bad_data is not None
        try:
            if message is None:
                self._on_bad_data("a text frame that is not UTF-8")
            else:
                self._on_message(message)
        except Exception:  # the boundary: a bug drops this connection, never the loop
            log.exception("handling a WebSocket message failed")
            self.transport.abort()
