"""The edge↔router Link as a seam: one stream type the edge writes and reads, whatever carries
it (gRPC between processes, a direct hand-over when the router runs in the edge's process).

The router's side of a Link is a `LinkPump` (EdgeBatches in, the first naming the edge;
RouterBatches out). `LocalLinkStream` drives one in this process without gRPC: the edge's
encoded batch is parsed once (as the gRPC server would), and the router's RouterBatch objects
reach the edge unserialized. Routers started in this process are found by the target they
advertise (`register`, `local_pump`); any other target is reached over gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Protocol

from protos.router_pb2 import EdgeBatch, RouterBatch

LOCAL_INBOX_BATCHES = 2
"""EdgeBatches written to a local Link and not yet taken by the router: beyond, the edge's
write waits (the router stopped reading), so the edge's own bounded queue fills and refuses,
as a gRPC stream's flow control makes it."""


class LinkStream(Protocol):
    """The edge's end of one Link session."""

    async def write(self, batch: bytes) -> None:
        """One encoded EdgeBatch (edge/wire.py); waits while the router is not taking them."""
        ...

    def __aiter__(self) -> AsyncIterator[RouterBatch]:
        """The router's batches, in order; ends (or raises) when the router ends the link."""
        ...

    async def close(self) -> None:
        """Abort the session (the router detaches the link); safe to call more than once."""
        ...


LinkPump = Callable[[AsyncIterator[EdgeBatch]], AsyncGenerator[RouterBatch, None]]
"""A router's side of one Link: the edge's batches in, in order; the router's batches out."""


class LocalLinkStream:
    """A Link to a router in this process: a bounded hand-over of parsed EdgeBatches one way,
    the router's RouterBatch objects the other; no gRPC, no timer."""

    def __init__(self, pump: LinkPump) -> None:
        self._inbox: asyncio.Queue[EdgeBatch | None] = asyncio.Queue(LOCAL_INBOX_BATCHES)
        self._taken = asyncio.Event()  # set each time the router takes a batch
        self._outgoing = pump(self._requests())
        self._ended = False

    async def write(self, batch: bytes) -> None:
        parsed = EdgeBatch.FromString(batch)
        while not self._ended:
            if not self._inbox.full():
                self._inbox.put_nowait(parsed)
                return
            self._taken.clear()
            await self._taken.wait()  # set by the router's take, or by the end of the link
        raise ConnectionError("router ended the link")

    def __aiter__(self) -> AsyncIterator[RouterBatch]:
        return self._outgoing

    async def close(self) -> None:
        self._end()
        # The pump's own cleanup (detach, the edge's sessions gone) runs to its end even if
        # whoever closes is being cancelled: a gRPC server's handler would too.
        with contextlib.suppress(RuntimeError):  # still running in a reader not yet cancelled
            await asyncio.shield(self._outgoing.aclose())

    def _end(self) -> None:
        self._ended = True
        self._taken.set()
        if not self._inbox.full():
            self._inbox.put_nowait(None)  # the router's read of this link ends

    async def _requests(self) -> AsyncIterator[EdgeBatch]:
        while True:
            batch = await self._inbox.get()
            self._taken.set()
            if batch is None or self._ended:
                return
            yield batch


_routers: dict[str, LinkPump] = {}


def register(target: str, pump: LinkPump) -> Callable[[], None]:
    """Edges in this process reach the router advertising `target` through `pump`; returns
    what takes it back out (a router stopping), which leaves a newer registration alone."""
    _routers[target] = pump

    def unregister() -> None:
        if _routers.get(target) is pump:
            del _routers[target]

    return unregister


def local_pump(target: str) -> LinkPump | None:
    """The pump of the router in this process that advertises `target`; None = over gRPC."""
    return _routers.get(target)
