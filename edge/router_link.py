"""The edge's half of `Router.Link`: one long-lived bidi stream per router, batched both ways.

Everything queued while the previous write was in flight (or within the flush interval)
goes out as one EdgeBatch, encoded by hand (edge.wire). On
(re)connect the edge first replays `opened(replay=true)` for every live session.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from google.protobuf.message import DecodeError
from grpc import aio

from edge import wire
from edge.codec import PushedFrame
from edge.hub import Hub
from edge.routing import backoff_delay, route_frame
from kernel import telemetry
from kernel.background import BackgroundTask
from kernel.grpc_server import internal_channel
from kernel.internal_auth import internal_metadata
from protos.client_pb2 import ClientFrame
from protos.router_pb2 import EdgeBatch, RouterBatch, SessionRef

log = logging.getLogger(__name__)

# While connected, at most this many items wait for a write (a router that stopped reading).
MAX_QUEUED_WHILE_CONNECTED = 100_000
_tracer = telemetry.tracer("hubbub.edge")
LINK_METHOD = "/hubbub.v1.Router/Link"
LinkCall = aio.StreamStreamCall[bytes, RouterBatch]


class RouterLink:
    """One router target. Frames wait (bounded) while the link is down; session opens and
    closes do not, because the replay on reconnect restates them.

    Items are queued as encoded EdgeItems (see edge.wire) and written as one EdgeBatch per
    write. A gRPC stream message costs ~150 us of CPU whatever its size, so writes are at
    least `flush_interval_s` apart: under load batches grow instead of the write count.
    """

    def __init__(
        self,
        target: str,
        edge_id: str,
        live_refs: Callable[[], list[SessionRef]],
        deliver: Callable[[RouterBatch], None],
        pending_limit: int,
        rng: random.Random | None = None,
        flush_interval_s: float = 0.0,
        internal_secret: str = "",
        internal_tls_dir: str = "",
    ) -> None:
        self.target = target
        # On the call, not by an interceptor: an intercepted stream proxies every write.
        self._metadata = internal_metadata(internal_secret)
        self._tls_dir = internal_tls_dir
        self._header = wire.batch_header(edge_id)
        self._live_refs = live_refs
        self._deliver = deliver
        self._pending_limit = pending_limit
        self._rng = rng or random.Random()
        self._flush_interval_s = flush_interval_s
        self._items: list[bytes] = []
        self._frames: list[bool] = []  # per queued item: a frame (kept across a reconnect)
        self._wake = asyncio.Event()
        self._connected = False
        self._healthy = False
        self._task = BackgroundTask(f"router-link {target}", self._run)
        self.connects = 0  # streams opened so far (observability)
        self.batches = 0  # EdgeBatches written so far (observability)
        self.items = 0  # EdgeItems written so far (observability)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    def enqueue_frame(self, session: bytes, frame: bytes) -> bool:
        """Queue a serialized ClientFrame from the session whose `wire.session_field` is given."""
        # Down: hold up to the limit for the reconnect. Up but stalled: a larger hard cap, so a
        # router that stops reading cannot grow this edge's memory without bound.
        limit = MAX_QUEUED_WHILE_CONNECTED if self._connected else self._pending_limit
        if len(self._items) >= limit:
            return False
        self._items.append(wire.frame_item(session, frame))
        self._frames.append(True)
        self._wake.set()
        return True

    def opened(self, session: bytes) -> None:
        if self._connected:
            self._items.append(wire.opened_item(session, False))
            self._frames.append(False)
            self._wake.set()

    def closed(self, session: bytes, graceful: bool) -> None:
        if self._connected:
            self._items.append(wire.closed_item(session, graceful))
            self._frames.append(False)
            self._wake.set()

    def pending(self) -> EdgeBatch:
        """What the next write would carry, decoded (tests, debugging)."""
        return EdgeBatch.FromString(wire.encode_batch(self._header, self._items))

    # ------------------------------------------------------------ the stream

    async def _run(self) -> None:
        attempt = 0
        while True:
            self._healthy = False
            channel = internal_channel(self.target, internal_tls_dir=self._tls_dir)
            try:
                await self._session(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.info("router link %s lost: %r", self.target, exc)
            finally:
                self._disconnected()
                await channel.close()
            attempt = 0 if self._healthy else attempt + 1
            await asyncio.sleep(backoff_delay(attempt, self._rng))

    async def _session(self, channel: aio.Channel) -> None:
        # Requests go out as bytes already encoded (edge.wire); replies are parsed as usual.
        stream: LinkCall = channel.stream_stream(
            LINK_METHOD, request_serializer=None, response_deserializer=RouterBatch.FromString
        )(metadata=self._metadata)
        self._connected_now()
        reader = asyncio.ensure_future(self._read(stream))
        writer = asyncio.ensure_future(self._write(stream))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the failure that ended the stream
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            stream.cancel()

    def _connected_now(self) -> None:
        """Queue the replay ahead of the frames that waited for this link."""
        replay = [wire.opened_item(wire.session_field(ref), True) for ref in self._live_refs()]
        self._items[:0] = replay
        self._frames[:0] = [False] * len(replay)
        self._connected = True
        self.connects += 1
        self._wake.set()

    def _disconnected(self) -> None:
        """Keep only frames: opens/closes are restated by the next replay."""
        self._connected = False
        kept = [item for item, is_frame in zip(self._items, self._frames, strict=True) if is_frame]
        self._items = kept
        self._frames = [True] * len(kept)

    async def _write(self, stream: LinkCall) -> None:
        loop = asyncio.get_running_loop()
        interval = self._flush_interval_s
        last_write = -interval
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = last_write + interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # coalescing window: more items join this write
            items, frames = self._items, self._frames
            self._items, self._frames = [], []
            last_write = loop.time()
            try:
                await stream.write(wire.encode_batch(self._header, items))
            except BaseException:
                # The batch may never have reached the router: its frames go out again on the
                # next link, ahead of newer ones (sends are idempotent on client_msg_id,
                # cursors are monotonic); opens/closes are restated by the replay.
                kept = [item for item, is_frame in zip(items, frames, strict=True) if is_frame]
                self._items[:0] = kept
                self._frames[:0] = [True] * len(kept)
                raise
            self.batches += 1
            self.items += len(items)
            self._healthy = True

    async def _read(self, stream: LinkCall) -> None:
        async for batch in stream:
            self._deliver(batch)
        raise ConnectionError("router ended the link")


class RouterLinks:
    """All router links of this edge; implements connection.RouterSink."""

    def __init__(
        self,
        targets: tuple[str, ...],
        edge_id: str,
        hub: Hub,
        pending_limit: int,
        flush_interval_s: float = 0.0,
        internal_secret: str = "",
        internal_tls_dir: str = "",
    ) -> None:
        self._hub = hub
        self.links = [
            RouterLink(
                t,
                edge_id,
                hub.live_refs,
                self.deliver,
                pending_limit,
                flush_interval_s=flush_interval_s,
                internal_secret=internal_secret,
                internal_tls_dir=internal_tls_dir,
            )
            for t in targets
        ]
        self._sessions: dict[int, bytes] = {}  # session id -> its encoded EdgeItem.session field

    def start(self) -> None:
        for link in self.links:
            link.start()

    async def stop(self) -> None:
        for link in self.links:
            await link.stop()

    def forward(self, ref: SessionRef, frame: ClientFrame, raw: bytes | None = None) -> bool:
        """Queue a frame; `raw`, when given, is its exact wire form (spliced in, not re-encoded)."""
        links = self.links
        if not links:
            return False
        session = self._sessions.get(ref.session_id)
        if session is None:
            session = wire.session_field(ref)
        if len(links) == 1:
            return links[0].enqueue_frame(session, frame.SerializeToString() if raw is None else raw)
        accepted = True
        for index, part in route_frame(frame, ref.user_id, len(links)):
            data = raw if raw is not None and part is frame else part.SerializeToString()
            accepted = links[index].enqueue_frame(session, data) and accepted
        return accepted

    def opened(self, ref: SessionRef) -> None:
        session = self._sessions[ref.session_id] = wire.session_field(ref)
        for link in self.links:
            link.opened(session)

    def closed(self, ref: SessionRef, graceful: bool) -> None:
        session = self._sessions.pop(ref.session_id, None) or wire.session_field(ref)
        for link in self.links:
            link.closed(session, graceful)

    def deliver(self, batch: RouterBatch) -> None:
        """Hand each RouterItem's bytes, unparsed, to the listed sessions' outboxes."""
        hub = self._hub
        if telemetry.tracing_enabled():
            for item in batch.items:
                pushed = PushedFrame(item.frame)
                try:
                    parent = telemetry.context_from(pushed.frame().trace)
                except DecodeError:
                    parent = None
                with _tracer.start_as_current_span("edge.push", context=parent) as span:
                    span.set_attribute("hubbub.recipients", len(item.session_ids))
                    hub.deliver(item.session_ids, pushed)
            return
        for item in batch.items:
            hub.deliver(item.session_ids, PushedFrame(item.frame))
