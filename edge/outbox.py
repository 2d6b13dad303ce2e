"""A bounded per-connection send queue with one writer task: memory never grows without
bound (frames and bytes, the socket's own buffer included), and a client that stops reading
is closed with 4009 instead of stalling the edge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Transport(Protocol):
    """The socket side of a connection (WebSocket or gRPC stream)."""

    async def send_batch(self, items: list[bytes]) -> None:
        """Write several payloads with as few flushes as the transport allows."""
        ...

    async def close(self, code: int, reason: str, final: list[bytes]) -> None:
        """Write `final` payloads without waiting for the peer, then close; bounded in time."""
        ...

    def write_now(self, items: list[bytes]) -> bool:
        """Write the payloads at once if the socket takes them without waiting (open, not
        paused by flow control); False = nothing written, use `send_batch`."""
        ...

    def buffered_bytes(self) -> int:
        """Bytes handed to the transport that it has not sent yet (as far as it can tell)."""
        ...


class Outbox:
    """Queue payloads for one client; `put` never blocks and never exceeds `limit` items, nor
    `limit_bytes` bytes waiting (queued plus the transport's unsent buffer), except that one
    payload larger than `limit_bytes` may go when nothing else waits.

    What is queued during one loop iteration goes out in one write from a loop callback, with
    no task switch; only a socket under back-pressure gets a writer task that awaits the drain.
    """

    __slots__ = (
        "_broken", "_bytes", "_closer", "_flush_due", "_limit", "_limit_bytes", "_loop", "_queue",
        "_transport", "_unsent", "_writer", "closed", "peak_bytes",
    )  # fmt: skip

    def __init__(self, transport: Transport, limit: int, limit_bytes: int) -> None:
        self._transport = transport
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._bytes = 0  # bytes in _queue
        # What the transport held unsent when last asked (after each write): an upper bound
        # until the next ask, since it only drains meanwhile. Asking once per write, not per
        # put, keeps `put` cheap.
        self._unsent = 0
        self.peak_bytes = 0  # the most bytes ever waiting at once (observability, tests)
        # A list, not a deque: one per idle connection, and an empty deque costs ~10x more.
        # It is only ever appended to and taken whole.
        self._queue: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._flush_due = False  # a _flush callback is scheduled
        self._writer: asyncio.Task[None] | None = None  # only while the socket is slow
        self._broken = False  # a write failed: the reader side will see the connection end
        self._closer: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        """Kept for symmetry with `stop`: writing starts with the first `put`."""

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting for this client: queued here or unsent in the transport."""
        return self._bytes + self._transport.buffered_bytes()

    def put(self, item: bytes) -> bool:
        """Queue one payload. False = the queue is full: the caller must close the connection."""
        if self.closed:
            return True  # dropping after close is not an overflow
        queue = self._queue
        if len(queue) >= self._limit:
            return False
        waiting = self._bytes + self._unsent
        total = waiting + len(item)
        if total > self._limit_bytes and waiting:
            self._unsent = self._transport.buffered_bytes()  # it may have drained since: ask
            waiting = self._bytes + self._unsent
            total = waiting + len(item)
            if total > self._limit_bytes and waiting:
                return False
        queue.append(item)
        self._bytes += len(item)
        if total > self.peak_bytes:
            self.peak_bytes = total
        if not self._flush_due and self._writer is None:
            self._flush_due = True
            self._loop.call_soon(self._flush)
        return True

    def _flush(self) -> None:
        self._flush_due = False
        queue = self._queue
        if self.closed or self._broken or self._writer is not None or not queue:
            return
        try:
            written = self._transport.write_now(queue)
        except Exception as exc:  # noqa: BLE001 - a broken socket; the reader sees it too
            log.debug("outbox write failed: %r", exc)
            self._broken = True
            return
        if written:
            self._queue = []
            self._bytes = 0  # the transport's buffer counts them now
            self._unsent = self._transport.buffered_bytes()
        else:
            self._writer = self._loop.create_task(self._write_loop())

    def close(
        self, code: int, reason: str, final: list[bytes] | None = None, *, drop_queued: bool = False
    ) -> None:
        """Stop writing and close: queued payloads (unless dropped) and `final` go out first."""
        if self.closed:
            return
        self.closed = True
        items = [] if drop_queued else list(self._queue)
        items.extend(final or ())
        self._queue.clear()
        self._bytes = 0
        if self._writer is not None:
            # The writer may be parked on a full socket; each payload it took was written
            # whole before it awaited, so cancelling keeps the frame boundaries intact.
            self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._transport.close(code, reason, items))

    async def wait_closed(self) -> None:
        """Wait for the close started by `close` (the transport bounds it in time)."""
        if self._closer is not None:
            with contextlib.suppress(Exception):
                await self._closer

    async def stop(self) -> None:
        """The peer is gone: end the writer without closing anything."""
        self.closed = True
        self._queue.clear()
        self._bytes = 0
        writer = self._writer
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        await self.wait_closed()

    async def _write_loop(self) -> None:
        """The slow path: write and await the drain until the queue is empty."""
        try:
            while self._queue:
                items, self._queue = self._queue, []
                self._unsent += self._bytes  # in the transport's hands until it drained them
                self._bytes = 0
                await self._transport.send_batch(items)
                self._unsent = self._transport.buffered_bytes()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken socket ends the writer; the reader sees it too
            log.debug("outbox writer stopped: %r", exc)
            self._broken = True
        finally:
            self._writer = None
