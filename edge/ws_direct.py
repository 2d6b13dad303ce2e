"""A websockets ServerConnection that hands each complete message to the edge from the
socket callback itself, instead of queueing it for a reader task (one task hop per frame)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import BINARY, CONT, TEXT, Frame
from websockets.protocol import Event

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes | str], None]
OnBadData = Callable[[str], None]


class DirectServerConnection(ServerConnection):
    """Data messages go to `attach`'s callbacks (text as str, binary as bytes), in order.

    Messages that arrive before `attach` wait and are handed over on attach. Control frames
    and the handshake are left to websockets. The callbacks must not await.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message: OnMessage | None = None
        self._on_bad_data: OnBadData | None = None
        self._early: list[bytes | str | None] = []  # None = a text message that was not UTF-8
        self._parts: list[bytes | bytearray | memoryview] = []  # fragments of an unfinished message
        self._text = False

    def attach(self, on_message: OnMessage, on_bad_data: OnBadData) -> None:
        self._on_message = on_message
        self._on_bad_data = on_bad_data
        early, self._early = self._early, []
        for message in early:
            self._hand_over(message)

    def process_event(self, event: Event) -> None:
        if self.request is None or not isinstance(event, Frame) or event.opcode not in (BINARY, TEXT, CONT):
            super().process_event(event)
            return
        if event.opcode is CONT:
            self._parts.append(event.data)
        else:
            self._text = event.opcode is TEXT
            if event.fin:  # the common case: one frame, one message
                self._complete(event.data)
                return
            self._parts = [event.data]
        if event.fin:
            data = b"".join(self._parts)
            self._parts = []
            self._complete(data)

    def _complete(self, data: bytes | bytearray | memoryview) -> None:
        message: bytes | str | None = data if isinstance(data, bytes) else bytes(data)
        if self._text:
            try:
                message = bytes(data).decode()
            except UnicodeDecodeError:
                message = None
        if self._on_message is None:
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
