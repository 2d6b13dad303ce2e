"""The edge's half of `Router.Link`: one long-lived bidi stream per router, batched both ways.

Everything queued while the previous write was in flight goes out as one EdgeBatch. On
(re)connect the edge first replays `opened(replay=true)` for every live session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from google.protobuf.message import DecodeError
from grpc import aio

from edge.codec import PushedFrame
from edge.hub import Hub
from edge.routing import backoff_delay, route_frame
from kernel import telemetry
from kernel.grpc_server import CHANNEL_OPTIONS
from protos.client_pb2 import ClientFrame
from protos.router_pb2 import EdgeBatch, RouterBatch, SessionClosed, SessionOpened, SessionRef
from protos.router_pb2_grpc import RouterStub

log = logging.getLogger(__name__)
_tracer = telemetry.tracer("hubbub.edge")


class RouterLink:
    """One router target. Frames wait (bounded) while the link is down; session opens and
    closes do not, because the replay on reconnect restates them."""

    def __init__(
        self,
        target: str,
        edge_id: str,
        live_refs: Callable[[], list[SessionRef]],
        deliver: Callable[[RouterBatch], None],
        pending_limit: int,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self._edge_id = edge_id
        self._live_refs = live_refs
        self._deliver = deliver
        self._pending_limit = pending_limit
        self._rng = rng or random.Random()
        self._batch = EdgeBatch(edge_id=edge_id)
        self._wake = asyncio.Event()
        self._connected = False
        self._healthy = False
        self._task: asyncio.Task[None] | None = None
        self.connects = 0  # streams opened so far (observability)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"router-link {self.target}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def enqueue_frame(self, ref: SessionRef, frame: ClientFrame) -> bool:
        items = self._batch.items
        if not self._connected and len(items) >= self._pending_limit:
            return False
        items.add(session=ref, frame=frame)
        self._wake.set()
        return True

    def opened(self, ref: SessionRef) -> None:
        if self._connected:
            self._batch.items.add(session=ref, opened=SessionOpened(replay=False))
            self._wake.set()

    def closed(self, ref: SessionRef, graceful: bool) -> None:
        if self._connected:
            self._batch.items.add(session=ref, closed=SessionClosed(graceful=graceful))
            self._wake.set()

    # ------------------------------------------------------------ the stream

    async def _run(self) -> None:
        attempt = 0
        while True:
            self._healthy = False
            channel = aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
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
        stream = RouterStub(channel).Link()
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
        waiting = self._batch
        self._batch = EdgeBatch(edge_id=self._edge_id)
        for ref in self._live_refs():
            self._batch.items.add(session=ref, opened=SessionOpened(replay=True))
        self._batch.items.extend(waiting.items)
        self._connected = True
        self.connects += 1
        self._wake.set()

    def _disconnected(self) -> None:
        """Keep only frames: opens/closes are restated by the next replay."""
        self._connected = False
        waiting = self._batch
        self._batch = EdgeBatch(edge_id=self._edge_id)
        self._batch.items.extend(item for item in waiting.items if item.HasField("frame"))

    async def _write(self, stream: aio.StreamStreamCall[EdgeBatch, RouterBatch]) -> None:
        while True:
            if not self._batch.items:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._batch = self._batch, EdgeBatch(edge_id=self._edge_id)
            await stream.write(batch)
            self._healthy = True

    async def _read(self, stream: aio.StreamStreamCall[EdgeBatch, RouterBatch]) -> None:
        async for batch in stream:
            self._deliver(batch)
        raise ConnectionError("router ended the link")


class RouterLinks:
    """All router links of this edge; implements connection.RouterSink."""

    def __init__(self, targets: tuple[str, ...], edge_id: str, hub: Hub, pending_limit: int) -> None:
        self._hub = hub
        self.links = [RouterLink(t, edge_id, hub.live_refs, self.deliver, pending_limit) for t in targets]

    def start(self) -> None:
        for link in self.links:
            link.start()

    async def stop(self) -> None:
        for link in self.links:
            await link.stop()

    def forward(self, ref: SessionRef, frame: ClientFrame) -> bool:
        links = self.links
        if not links:
            return False
        accepted = True
        for index, part in route_frame(frame, ref.user_id, len(links)):
            accepted = links[index].enqueue_frame(ref, part) and accepted
        return accepted

    def opened(self, ref: SessionRef) -> None:
        for link in self.links:
            link.opened(ref)

    def closed(self, ref: SessionRef, graceful: bool) -> None:
        for link in self.links:
            link.closed(ref, graceful)

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
