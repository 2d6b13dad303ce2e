"""A websockets ServerConnection that hands each complete message to the edge from the
socket callback itself, instead of queueing it for a reader task (one task hop per frame)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from typing import Any, Protocol, cast

from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.frames import BINARY, CONT, TEXT, Frame
from websockets.http11 import Request, Response
from websockets.protocol import Event
from websockets.typing import Subprotocol

log = logging.getLogger(__name__)


class MessageSink(Protocol):
    """Where a connection's messages go (edge.connection.Connection)."""

    def on_data(self, data: bytes | str) -> None: ...

    def on_bad_data(self, detail: str) -> None:
        """A text message that is not UTF-8."""
        ...


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
_NO_ID = uuid.UUID(int=0)
"""Every connection's websockets id: only websockets' own debug lines would name it (two
objects a connection); hubbub's lines name the session."""
_PAST_RESPONSE = Response(101, "Switching Protocols", _NO_HEADERS)
"""What `response` reads past the handshake, shared: nothing after it reads the response."""
_PAST_REQUEST = Request("", _NO_HEADERS)
"""Whose fields every request is emptied to past the handshake (the "GET" and "HTTP/1.1" that
the parser decoded, the path, the headers: some 400 bytes a connection)."""


class DirectServerConnection(ServerConnection):
    """Data messages go to `attach`'s callbacks (text as str, binary as bytes), in order.

    Messages that arrive before `attach` wait and are handed over on attach. Control frames
    and the handshake are left to websockets. The callbacks must not await.

    Memory matters here (one instance per idle client): our own state lives in slots, not in
    the inherited instance dict (which would grow), buffers exist only while in use, and the
    handshake's leftovers are dropped (`forget_handshake`).
    """

    __slots__ = ("_early", "_parts", "_sink", "_text")

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
        self.protocol.id = self.id = _NO_ID
        self._sink: MessageSink | None = None
        self._early: list[bytes | str | None] | None = None  # None in it = a text message that was not UTF-8
        self._parts: list[bytes | bytearray | memoryview] | None = None  # fragments of an unfinished message
        self._text = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # also starts the handler task
        self.recv_messages = _NO_MESSAGES  # the Assembler it made is freed (see _NoMessages)

    def attach(self, sink: MessageSink) -> None:
        """Hand every data message to `sink` from now on (those that came early, first).
        The sink itself is kept, not two bound methods of it: one reference, no allocation."""
        self._sink = sink
        early, self._early = self._early, None
        for message in early or ():
            self._hand_over(message)

    def forget_handshake(self) -> None:
        """Drop what only the handshake used, once the subprotocol is chosen: what its request
        and response hold (headers alone are a few KiB), the future that waited for the request, and
        the protocol's per-connection subprotocol chooser (a closure and a bound method; the
        class's own method is what remains, and nothing calls either after the handshake), and
        the chosen subprotocol's own copy of its name."""
        request, response = self.request, self.response
        if request is not None:  # emptied, not replaced: the protocol's parser still holds it
            request.path, request.method = _PAST_REQUEST.path, _PAST_REQUEST.method
            request.protocol, request.headers = _PAST_REQUEST.protocol, _NO_HEADERS
        if response is not None:
            response.headers = _NO_HEADERS  # in case something else holds it too
            self.response = _PAST_RESPONSE
        chosen = self.protocol.subprotocol
        if chosen is not None:  # the header's copy of one of a few names: share one string
            self.protocol.subprotocol = Subprotocol(sys.intern(chosen))
        with contextlib.suppress(AttributeError):
            del self.request_rcvd
        with contextlib.suppress(AttributeError):
            del self.protocol.select_subprotocol

    def lost(self) -> asyncio.Future[None]:
        """Done when the TCP connection is gone: what the handler awaits, directly.

        websockets' `wait_closed()` wraps the same future in `asyncio.shield` for every caller:
        an outer future, two callbacks and a coroutine frame per connection, some 1 KiB while it
        is idle. Awaited directly, a cancelled handler cancels the future itself: the handler
        then calls `revive_lost` before it closes, so websockets' own waits (its `close()`
        shields this future) still wait for the TCP close, as with the shield."""
        return self.connection_lost_waiter

    def revive_lost(self) -> None:
        """Put a pending future back in place of one a cancelled await of `lost()` cancelled."""
        if self.connection_lost_waiter.cancelled():
            self.connection_lost_waiter = self.loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.revive_lost()  # websockets sets the future's result here: it must be pending
        super().connection_lost(exc)

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
        if self._sink is None:
            if self._early is None:
                self._early = []
            self._early.append(message)
        else:
            self._hand_over(message)

    def _hand_over(self, message: bytes | str | None) -> None:
        sink = self._sink
        assert sink is not None
        try:
            if message is None:
                sink.on_bad_data("a text frame that is not UTF-8")
            else:
                sink.on_data(message)
        except Exception:  # the boundary: a bug drops this connection, never the loop
            log.exception("handling a WebSocket message failed")
            self.transport.abort()
