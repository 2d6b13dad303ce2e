"""The edge's half of `Router.Link`: one long-lived stream per router, batched both ways; over
gRPC, or handed over directly to a router in this process (kernel/link_streams.py).

Everything queued while the previous write was in flight (or, over gRPC, within the flush
interval) goes out as one EdgeBatch, encoded by hand (edge.wire) and cut below the gRPC
message limit. On (re)connect the edge first replays `opened(replay=true)` for every live
session.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from edge import wire
from edge.codec import PushedFrame
from edge.frames import error_frame
from edge.hub import Hub
from edge.link_grpc import GrpcLinkStream
from edge.metrics import ROUTER_LINK_LOSSES
from edge.routing import frame_partition, log_write_partition, route_frame
from edge.send_order import Held, SendOrder, Unanswered
from edge.stale_deliveries import DeliveryFence
from kernel import telemetry
from kernel.background import BackgroundTask
from kernel.backoff import backoff_delay
from kernel.budget import fit_count
from kernel.errors import ErrorCode, TooLarge
from kernel.grpc_server import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from kernel.internal_auth import internal_metadata
from kernel.link_streams import LinkStream, LocalLinkStream, local_pump
from kernel.ownership import Owner, PartitionMap, static_map
from kernel.partitions import DEFAULT_PARTITIONS, partition_of
from protos.client_pb2 import ClientFrame, ServerFrame
from protos.router_pb2 import EdgeBatch, EdgeItem, RouterBatch, RouterItem, SessionRef

log = logging.getLogger(__name__)

# While connected, at most this many items wait for a write (a router that stopped reading).
MAX_QUEUED_WHILE_CONNECTED = 100_000
MAX_QUEUED_BYTES = 4 * MAX_MESSAGE_BYTES
"""Bytes of items waiting for one router, link up or down; beyond it frames are refused
(UNAVAILABLE, retry) instead of growing the edge's memory."""
MAX_WRITE_ATTEMPTS = 3
"""Writes a frame may be part of that failed (the link broke under it) before it is dropped
and its sender told UNAVAILABLE: a frame never re-queues at the head forever."""
MAX_REROUTES = 3
"""Times a frame refused STALE_OWNER is re-sent to a newer owner before its sender hears
UNAVAILABLE (a handoff takes one; a flapping map must not bounce a frame for ever)."""
REROUTE_WAIT_S = 5.0
"""How long a frame may take from the first time it is held back (refused, or no owner in the
map) to being answered: one deadline, carried with it (EdgeItem.reroute_deadline_ms) through
every re-send and park (a planned handoff publishes a new map within milliseconds; a lost
router within its session timeout)."""
MAX_HELD_SENDS = MAX_QUEUED_WHILE_CONNECTED
MAX_HELD_BYTES = MAX_QUEUED_BYTES
"""Sends an edge holds back (behind a refusal, for an owner), in count and bytes; beyond,
their senders hear UNAVAILABLE (retry) instead of growing the edge's memory."""
MAX_ORPHANS = 10_000
"""Sends kept aside after their wait (RouterLinks._unanswered); beyond, one is forgotten and
its sender's own timeout covers it, as before."""
MAX_GIVEN_UP = 10_000
"""Sends answered UNAVAILABLE by the edge whose late answers it drops (SendOrder.gave_up);
beyond, the oldest is forgotten and a late answer to it may reach its client."""
MAX_PENDING_SPLITS = 10_000
"""Receipt frames split over several owners whose parts are not all answered yet; beyond it a
new split frame is refused UNAVAILABLE (retry) rather than grow the table."""
_NOT_A_FRAME = -1  # in RouterLink._tries: an open/close, restated by the replay instead
_tracer = telemetry.tracer("hubbub.edge")


class RouterLink:
    """One router target. Frames wait (bounded in count and bytes) while the link is down;
    session opens and closes do not, because the replay on reconnect restates them.

    Items are queued as encoded EdgeItems (see edge.wire) and written as EdgeBatches cut below
    the gRPC message limit (MAX_BATCH_BYTES). A gRPC stream message costs ~150 us of CPU
    whatever its size, so gRPC writes are at least `flush_interval_s` apart: under load batches
    grow instead of the write count. A router in this process is written without gRPC and
    without that window (`_open`).
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
        on_dropped: Callable[[bytes], None] | None = None,
        on_down: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        self._on_down = on_down
        self._metadata = internal_metadata(internal_secret)
        self._tls_dir = internal_tls_dir
        self._header = wire.batch_header(edge_id)
        self._live_refs = live_refs
        self._deliver = deliver
        self._pending_limit = pending_limit
        self._rng = rng or random.Random()
        self._flush_interval_s = flush_interval_s
        self._on_dropped = on_dropped
        self._items: list[bytes] = []
        # Per queued item: failed writes it was part of (a frame, kept across a reconnect),
        # or _NOT_A_FRAME (an open/close, dropped on disconnect).
        self._tries: list[int] = []
        self._bytes = 0  # what the queued items cost in a batch (wire.ITEM_OVERHEAD included)
        self._wake = asyncio.Event()
        self._connected = False
        self._healthy = False
        self._task = BackgroundTask(f"router-link {target}", self._run)
        self.connects = 0  # streams opened so far (observability)
        self.local_connects = 0  # of which to a router in this process, without gRPC
        self.batches = 0  # EdgeBatches written so far (observability)
        self.items = 0  # EdgeItems written so far (observability)
        self.bytes = 0  # EdgeBatch bytes written so far (observability)
        self.dropped = 0  # frames dropped after MAX_WRITE_ATTEMPTS failed writes (observability)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def enqueue_frame(self, session: bytes, frame: bytes, reroutes: int = 0, deadline_ms: int = 0) -> bool:
        """Queue a serialized ClientFrame from the session whose `wire.session_field` is given.

        False = the backlog is full (retry later); raises TooLarge for an item no batch can
        carry, which is never queued (it would fail every write of the link)."""
        item = wire.frame_item(session, frame, reroutes, deadline_ms)
        size = len(item) + wire.ITEM_OVERHEAD
        if size > MAX_BATCH_BYTES:
            raise TooLarge("frame too large to route")
        # Down: hold up to the limit for the reconnect. Up but stalled: a larger hard cap, so a
        # router that stops reading cannot grow this edge's memory without bound.
        limit = MAX_QUEUED_WHILE_CONNECTED if self._connected else self._pending_limit
        if len(self._items) >= limit or self._bytes + size > MAX_QUEUED_BYTES:
            return False
        self._items.append(item)
        self._tries.append(0)
        self._bytes += size
        self._wake.set()
        return True

    def opened(self, session: bytes) -> None:
        if self._connected:
            self._control(wire.opened_item(session, False))

    def closed(self, session: bytes, graceful: bool) -> None:
        if self._connected:
            self._control(wire.closed_item(session, graceful))

    def _control(self, item: bytes) -> None:
        self._items.append(item)
        self._tries.append(_NOT_A_FRAME)
        self._bytes += len(item) + wire.ITEM_OVERHEAD
        self._wake.set()

    def pending(self) -> EdgeBatch:
        """What is queued, decoded as one batch (tests, debugging)."""
        return EdgeBatch.FromString(wire.encode_batch(self._header, self._items))

    # ------------------------------------------------------------ the stream

    async def _run(self) -> None:
        attempt = 0
        while True:
            self._healthy = False
            stream, interval_s = self._open()
            try:
                await self._session(stream, interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.info("router link %s lost: %r", self.target, exc)
                ROUTER_LINK_LOSSES.labels(self.target).inc()
            finally:
                self._disconnected()
                if self._on_down is not None:
                    self._on_down()  # what it wrote and was not answered will not be, on this stream
                await stream.close()
            attempt = 0 if self._healthy else attempt + 1
            await asyncio.sleep(backoff_delay(attempt, self._rng))

    def _open(self) -> tuple[LinkStream, float]:
        """The router in this process that advertises the target, without gRPC and without a
        flush window (what is queued when the writer runs is one batch); else a gRPC stream,
        written at most every `flush_interval_s` (a stream message costs ~150 us of CPU)."""
        pump = local_pump(self.target)
        if pump is not None:
            self.local_connects += 1
            return LocalLinkStream(pump), 0.0
        return GrpcLinkStream(self.target, self._metadata, self._tls_dir), self._flush_interval_s

    async def _session(self, stream: LinkStream, interval_s: float) -> None:
        self._connected_now()
        reader = asyncio.ensure_future(self._read(stream))
        writer = asyncio.ensure_future(self._write(stream, interval_s))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the failure that ended the stream
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)

    def _connected_now(self) -> None:
        """Queue the replay ahead of the frames that waited for this link."""
        replay = [wire.opened_item(wire.session_field(ref), True) for ref in self._live_refs()]
        self._items[:0] = replay
        self._tries[:0] = [_NOT_A_FRAME] * len(replay)
        self._bytes += sum(len(item) for item in replay) + wire.ITEM_OVERHEAD * len(replay)
        self._connected = True
        self.connects += 1
        self._wake.set()

    def _disconnected(self) -> None:
        """Keep only frames: opens/closes are restated by the next replay."""
        self._connected = False
        items, tries = self._items, self._tries
        self._items = [item for item, t in zip(items, tries, strict=True) if t != _NOT_A_FRAME]
        self._tries = [t for t in tries if t != _NOT_A_FRAME]
        self._bytes = sum(len(item) for item in self._items) + wire.ITEM_OVERHEAD * len(self._items)

    def _take(self) -> tuple[list[bytes], list[int]]:
        """The oldest queued items that fit in one batch: usually all of them."""
        items, tries = self._items, self._tries
        if self._bytes <= MAX_BATCH_BYTES:
            self._items, self._tries, self._bytes = [], [], 0
            return items, tries
        sizes = [len(item) + wire.ITEM_OVERHEAD for item in items]
        count = fit_count(sizes, MAX_BATCH_BYTES)
        taken, taken_tries = items[:count], tries[:count]
        del items[:count], tries[:count]
        self._bytes -= sum(sizes[:count])
        return taken, taken_tries

    def queued_sends(self) -> set[tuple[int, int]]:
        """(session id, ref) of the frames queued for this link's next stream (never written,
        or requeued after a failed write): their answers may still come."""
        queued: set[tuple[int, int]] = set()
        for item, tries in zip(self._items, self._tries, strict=True):
            if tries == _NOT_A_FRAME:
                continue
            try:
                parsed = EdgeItem.FromString(item)
            except DecodeError:
                continue
            queued.add((parsed.session.session_id, parsed.frame.ref))
        return queued

    def _requeue(self, items: list[bytes], tries: list[int]) -> None:
        """A write failed: its frames go out again on the next link, ahead of newer ones
        (sends are idempotent on client_msg_id, cursors are monotonic), unless they already
        failed MAX_WRITE_ATTEMPTS times; opens/closes are restated by the replay."""
        kept: list[bytes] = []
        kept_tries: list[int] = []
        dropped: list[bytes] = []
        for item, t in zip(items, tries, strict=True):
            if t == _NOT_A_FRAME:
                continue
            if t + 1 >= MAX_WRITE_ATTEMPTS:
                dropped.append(item)
            else:
                kept.append(item)
                kept_tries.append(t + 1)
        self._items[:0] = kept
        self._tries[:0] = kept_tries
        self._bytes += sum(len(item) for item in kept) + wire.ITEM_OVERHEAD * len(kept)
        self.dropped += len(dropped)
        if dropped:
            log.warning("router link %s: dropped %d frames after failed writes", self.target, len(dropped))
        if self._on_dropped is not None:
            for item in dropped:
                self._on_dropped(item)

    async def _write(self, stream: LinkStream, interval_s: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        interval = interval_s
        last_write = -interval
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = last_write + interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # coalescing window: more items join this write
            items, tries = self._take()
            last_write = loop.time()
            data = wire.encode_batch(self._header, items)
            try:
                await stream.write(data)
            except BaseException:
                self._requeue(items, tries)
                raise
            self.batches += 1
            self.items += len(items)
            self.bytes += len(data)
            self._healthy = True

    async def _read(self, stream: LinkStream) -> None:
        async for batch in stream:
            self._deliver(batch)
        raise ConnectionError("router ended the link")


@dataclass(slots=True)
class _Split:
    remaining: int
    cursors: int = 0
    error: bytes | None = None


class RouterLinks:
    """All router links of this edge, one per router the partition map names (or, before a
    map arrives, per configured target); implements connection.RouterSink.

    Frames go to the owner of their partition. A frame a router refuses (STALE_OWNER: it does
    not own the partition, or no longer) comes back whole; it is re-sent to the owner the map
    names, at once when that is another owner, else when a map names one. Bounded on every
    path by one count and one deadline: refused at most MAX_REROUTES + 1 times, and answered
    within REROUTE_WAIT_S of the first time it was held back (refused, or no owner in the
    map), else its sender hears UNAVAILABLE. Sends keep their order per session and partition
    across a refusal (edge/send_order.py).
    """

    def __init__(
        self,
        targets: tuple[str, ...],
        edge_id: str,
        hub: Hub,
        pending_limit: int,
        flush_interval_s: float = 0.0,
        internal_secret: str = "",
        internal_tls_dir: str = "",
        partitions: int = DEFAULT_PARTITIONS,
    ) -> None:
        self._hub = hub
        self._edge_id = edge_id
        self._pending_limit = pending_limit
        self._flush_interval_s = flush_interval_s
        self._internal_secret = internal_secret
        self._internal_tls_dir = internal_tls_dir
        self._by_target: dict[str, RouterLink] = {}
        self.links: list[RouterLink] = []
        self._started = False
        for target in targets:
            self._link(target)
        self.map = static_map(partitions, targets) if targets else PartitionMap.empty(partitions)
        self.fence = DeliveryFence(self.map)  # drops a stale owner's late fan-out
        self._sessions: dict[int, bytes] = {}  # session id -> its encoded EdgeItem.session field
        # Refused or ownerless frames other than sends, waiting for a map with other owners:
        # (item, the owners of its partitions when it was held).
        self._parked: list[tuple[EdgeItem, frozenset[Owner | None]]] = []
        self._order = SendOrder(MAX_GIVEN_UP)
        self._expiry: asyncio.TimerHandle | None = None
        self._expiry_ms = 0
        self._splits: dict[tuple[int, int], _Split] = {}  # (session, ref) of split receipts
        # (session, ref) of sends awaited past their wait at a router that still owned their
        # partition then: answered UNAVAILABLE once the map moves it or the link goes down.
        self._orphans: dict[tuple[int, int], Unanswered] = {}
        self._orphans_map = self.map  # the map the orphans were last checked against
        self.rerouted = 0  # frames re-sent after STALE_OWNER (observability)

    def _link(self, target: str) -> RouterLink:
        link = self._by_target.get(target)
        if link is None:
            link = self._by_target[target] = RouterLink(
                target,
                self._edge_id,
                self._hub.live_refs,
                functools.partial(self.deliver, source=target),
                self._pending_limit,
                flush_interval_s=self._flush_interval_s,
                internal_secret=self._internal_secret,
                internal_tls_dir=self._internal_tls_dir,
                on_dropped=functools.partial(self._dropped, target),
                on_down=functools.partial(self._link_down, target),
            )
            self.links.append(link)
            if self._started:
                link.start()  # its replay announces every live session to the new router
        return link

    def start(self) -> None:
        self._started = True
        for link in self.links:
            link.start()

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for link in self.links:
            await link.stop()

    @property
    def pending_splits(self) -> int:
        """Split receipt frames not yet answered (observability, tests)."""
        return len(self._splits)

    @property
    def held_sends(self) -> int:
        """Sends held back now, behind a refusal or for an owner (observability, tests)."""
        return self._order.waiting()

    def set_map(self, partition_map: PartitionMap) -> None:
        """A newer map (older ones are ignored): links to routers it names, and the frames
        held for a map with other owners go out again."""
        if partition_map.version <= self.map.version and self.map.version:
            return
        if partition_map.partitions != self.map.partitions:
            log.error(
                "partition map of %d partitions ignored: this edge has %d",
                partition_map.partitions,
                self.map.partitions,
            )
            return
        self.map = partition_map
        self.fence.set_map(partition_map)
        for target in sorted(partition_map.routers().values()):
            self._link(target)
        self._unanswered([], down=None)  # sends kept aside whose router no longer owns them
        for session_id, partition in self._order.held_partitions():
            self._release(session_id, partition)
        parked, self._parked = self._parked, []
        for item, owners in parked:
            self._send_again(item, owners)

    def forward(self, ref: SessionRef, frame: ClientFrame, raw: bytes | None = None) -> bool:
        """Queue a frame; `raw`, when given, is its exact wire form (spliced in, not re-encoded).

        False = a backlog is full (retry); raises TooLarge for a frame no batch can carry."""
        session = self._sessions.get(ref.session_id)
        if session is None:
            session = wire.session_field(ref)
        partition = log_write_partition(frame, self.map.partitions)
        if partition is not None:
            return self._send(session, ref, frame, raw, partition)
        if frame.ref:
            self._order.reused(ref.session_id, frame.ref)
        return self._route(session, ref, frame, raw, 0, 0)

    def _send(
        self,
        session: bytes,
        ref: SessionRef,
        frame: ClientFrame,
        raw: bytes | None,
        partition: int,
        item: EdgeItem | None = None,
        *,
        released: bool = False,
    ) -> bool:
        """A send (or a deletion: edge.routing.log_write_partition) goes to its owner unless
        earlier ones of its session and partition are held or unanswered at another router:
        then it is held behind them (never overtakes).
        `item`: the send as it was held (its reroutes and deadline); a fresh one builds its
        EdgeItem only if it must be held. `released`: the gate let it go, so it goes."""
        sid = ref.session_id
        owner = self.map.owners[partition]
        target = owner.target if owner is not None else None
        now = self._now_ms()
        if target is None or (not released and self._order.blocked(sid, partition, target, now)):
            held = Held(item if item is not None else EdgeItem(session=ref, frame=frame))
            return self._hold(sid, partition, held, refused=False)
        data = raw if raw is not None else frame.SerializeToString()
        reroutes, deadline_ms = (item.reroutes, item.reroute_deadline_ms) if item is not None else (0, 0)
        accepted = self._link(target).enqueue_frame(session, data, reroutes, deadline_ms)
        if accepted:
            wait_ms = int(REROUTE_WAIT_S * 1000)
            self._order.sent(sid, partition, frame.ref, target, now + wait_ms)
            self._expire_at(now + wait_ms)
            self.rerouted += 1 if reroutes else 0
        return accepted

    def _hold(self, session_id: int, partition: int, held: Held, *, refused: bool) -> bool:
        """False = the edge holds too much already (MAX_HELD_SENDS, MAX_HELD_BYTES)."""
        order = self._order
        if order.held >= MAX_HELD_SENDS or order.held_bytes + held.item.ByteSize() > MAX_HELD_BYTES:
            return False
        if not held.item.reroute_deadline_ms:
            held.item.reroute_deadline_ms = self._now_ms() + int(REROUTE_WAIT_S * 1000)
        order.hold(session_id, partition, held, refused=refused)
        self._expire_at(held.item.reroute_deadline_ms)
        return True

    def _release(self, session_id: int, partition: int) -> None:
        """Send what the gate of (session, partition) lets go now, in order."""
        while True:
            held = self._order.release(session_id, partition, self.map.owners[partition], self._now_ms())
            if held is None:
                return
            session = self._sessions.get(session_id)
            if session is None:
                continue  # its session has gone: nobody waits for the answer
            item = held.item
            if not self._send(session, item.session, item.frame, None, partition, item, released=True):
                self._unavailable(held.item)

    def _route(
        self,
        session: bytes,
        ref: SessionRef,
        frame: ClientFrame,
        raw: bytes | None,
        reroutes: int,
        deadline_ms: int,
    ) -> bool:
        """Frames other than sends: by the map, split per owner for receipts."""
        parts = route_frame(frame, ref.user_id, self.map)
        split = len(parts) > 1
        if split:
            if len(self._splits) >= MAX_PENDING_SPLITS and (ref.session_id, frame.ref) not in self._splits:
                return False  # too many split receipts unanswered: retry (nothing sent)
            self._split(ref.session_id, frame.ref, len(parts))
        accepted = True
        for target, part in parts:
            if target is None:  # mid-handoff: no owner; the next map names one
                item = EdgeItem(session=ref, frame=part, reroutes=reroutes, reroute_deadline_ms=deadline_ms)
                self._park(item, self._owners(item))
                continue
            data = raw if raw is not None and part is frame else part.SerializeToString()
            self.rerouted += 1 if reroutes else 0
            try:
                queued = self._link(target).enqueue_frame(session, data, reroutes, deadline_ms)
            except TooLarge:
                if not split:
                    raise
                queued = False
            if not queued and split:
                # One part cannot go: it is answered UNAVAILABLE now, and the frame's one answer
                # (the first error) goes out once the other parts are answered.
                self._unavailable(EdgeItem(session=ref, frame=part))
                continue
            accepted = queued and accepted
        return accepted

    def _owners(self, item: EdgeItem) -> frozenset[Owner | None]:
        frame = item.frame
        partitions = self.map.partitions
        partition = frame_partition(frame, item.session.user_id, partitions)
        if partition is not None:
            return frozenset({self.map.owners[partition]})
        cursors = frame.delivered.cursors if frame.WhichOneof("kind") == "delivered" else frame.read.cursors
        return frozenset(self.map.owners[partition_of(c.conversation_id, partitions)] for c in cursors)

    def _park(self, item: EdgeItem, owners: frozenset[Owner | None]) -> None:
        if not item.reroute_deadline_ms:
            item.reroute_deadline_ms = self._now_ms() + int(REROUTE_WAIT_S * 1000)
        self._parked.append((item, owners))
        self._expire_at(item.reroute_deadline_ms)

    def _now_ms(self) -> int:
        return int(asyncio.get_running_loop().time() * 1000)

    def _expire_at(self, deadline_ms: int) -> None:
        """One timer, for the earliest deadline of anything held."""
        if self._expiry is not None and self._expiry_ms <= deadline_ms:
            return
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry_ms = deadline_ms
        self._expiry = asyncio.get_running_loop().call_at(deadline_ms / 1000, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        now = self._now_ms()
        keep: list[tuple[EdgeItem, frozenset[Owner | None]]] = []
        for item, owners in self._parked:
            if item.reroute_deadline_ms <= now:
                self._unavailable(item)
            else:
                keep.append((item, owners))
        self._parked = keep
        for _, held in self._order.expired(now):
            self._unavailable(held.item)
        # Answers that never came hold nothing back any more; where the map has moved the
        # partition away from the router a send went to, that router (frozen, cut off: a
        # stale owner never acks) will not answer it: the sender hears UNAVAILABLE and
        # retries (idempotent on client_msg_id) rather than wait out its own timeout.
        self._unanswered(self._order.forget(now), down=None)
        for session_id, partition in self._order.held_partitions():
            self._release(session_id, partition)  # a gate whose front expired may go on
        deadlines = [item.reroute_deadline_ms for item, _ in keep]
        later = self._order.next_deadline_ms()
        if later is not None:
            deadlines.append(later)
        if deadlines:
            self._expire_at(min(deadlines))

    def _refused(self, item: EdgeItem, refused_by: str) -> None:
        """A router refused `item` STALE_OWNER: re-send it by the map, bounded by one count
        (reroutes, raised here only) and one deadline (set when it was first held back)."""
        sid = item.session.session_id
        ordered = log_write_partition(item.frame, self.map.partitions)
        send, partition = ordered is not None, ordered or 0
        if send and self._order.answered(sid, item.frame.ref, refused_by) is None and item.frame.ref:
            if self._order.late(sid, item.frame.ref, refused_by):
                return  # the edge answered it UNAVAILABLE already; the client retries it
            orphan = self._orphans.get((sid, item.frame.ref))
            if orphan is not None and orphan.target == refused_by:
                del self._orphans[sid, item.frame.ref]  # awaited again, by its reroute
        if sid not in self._sessions:
            return  # its session has gone: nobody waits for the answer
        now = self._now_ms()
        if not item.reroute_deadline_ms:
            item.reroute_deadline_ms = now + int(REROUTE_WAIT_S * 1000)
        if item.reroutes >= MAX_REROUTES or item.reroute_deadline_ms <= now:
            self._unavailable(item)
            if send:
                self._release(sid, partition)
            return
        item.reroutes += 1
        if send:
            owner = self.map.owners[partition]
            stale = owner if owner is not None and owner.target == refused_by else None
            if not self._hold(sid, partition, Held(item, stale), refused=True):
                self._unavailable(item)
            self._release(sid, partition)
            return
        owners = self._owners(item)
        targets = {owner.target if owner is not None else None for owner in owners}
        self._send_again(item, owners if targets <= {refused_by, None} else frozenset())

    def _send_again(self, item: EdgeItem, held_for: frozenset[Owner | None]) -> None:
        """A frame other than a send, refused or ownerless: parked while the map still names
        the owners it was held for (or none), else re-routed."""
        owners = self._owners(item)
        if owners == held_for or owners == {None}:
            self._park(item, held_for or owners)
            return
        session = self._sessions.get(item.session.session_id)
        if session is None:
            return
        frame, reroutes, deadline = item.frame, item.reroutes, item.reroute_deadline_ms
        if not self._route(session, item.session, frame, None, reroutes, deadline):
            self._unavailable(item)

    def _split(self, session_id: int, ref: int, parts: int) -> None:
        """A receipt frame went out in `parts` parts (one per owner): answer it once."""
        pending = self._splits.get((session_id, ref))
        if pending is None:
            self._splits[(session_id, ref)] = _Split(parts)
        else:
            pending.remaining += parts - 1

    def _merged(self, item: RouterItem) -> bool:
        """False = an answer to one part of a split receipt frame, held back (or replaced) until
        every part is answered: then one CursorsStored (or the first error) goes out."""
        if len(item.session_ids) != 1:
            return True
        try:
            frame = ServerFrame.FromString(item.frame)
        except DecodeError:
            return True
        key = (item.session_ids[0], frame.ref)
        pending = self._splits.get(key)
        kind = frame.WhichOneof("kind")
        if pending is None or kind not in ("cursors_stored", "error"):
            return True
        pending.remaining -= 1
        if kind == "error" and pending.error is None:
            pending.error = item.frame
        elif kind == "cursors_stored":
            pending.cursors += frame.cursors_stored.cursors
        if pending.remaining > 0:
            return False
        del self._splits[key]
        if pending.error is not None:
            item.frame = pending.error
        else:
            frame.cursors_stored.cursors = pending.cursors
            item.frame = frame.SerializeToString()
        return True

    def opened(self, ref: SessionRef) -> None:
        session = self._sessions[ref.session_id] = wire.session_field(ref)
        for link in self.links:
            link.opened(session)

    def closed(self, ref: SessionRef, graceful: bool) -> None:
        session = self._sessions.pop(ref.session_id, None) or wire.session_field(ref)
        self._order.drop_session(ref.session_id)
        if self._orphans:
            for key in [k for k in self._orphans if k[0] == ref.session_id]:
                del self._orphans[key]
        if self._splits:
            for key in [k for k in self._splits if k[0] == ref.session_id]:
                del self._splits[key]
        for link in self.links:
            link.closed(session, graceful)

    def _link_down(self, target: str) -> None:
        """Answers come only on the stream a send went by: stop waiting for `target`'s, and
        tell their senders to retry (a send it stored is found by dedupe on the retry)."""
        self._unanswered(self._order.forget(self._now_ms(), target), down=target)
        for session_id, partition in self._order.held_partitions():
            self._release(session_id, partition)

    def _unanswered(self, sends: list[Unanswered], *, down: str | None) -> None:
        """UNAVAILABLE (retry) to each send no longer awaited that went by the `down` link or
        to a router the map no longer names as its partition's owner, unless it still waits
        in that link's queue (it goes out on the next stream and is answered there); the
        others (their router still owns the partition: slow, or silent and not yet known to
        be) are kept aside until their answer comes late, the map moves on or their link
        goes down."""
        orphans = self._orphans
        queued: dict[str, set[tuple[int, int]]] = {}
        for send in sends:
            if send.target == down or self._moved(send):
                self._unavailable_unless_queued(send, queued)
            elif len(orphans) < MAX_ORPHANS:
                orphans[send.session_id, send.ref] = send
        if orphans and (down is not None or self._orphans_map is not self.map):
            self._orphans_map = self.map
            for key, send in list(orphans.items()):
                if send.target == down or self._moved(send):
                    del orphans[key]
                    self._unavailable_unless_queued(send, queued)

    def _unavailable_unless_queued(self, send: Unanswered, queued: dict[str, set[tuple[int, int]]]) -> None:
        """`queued`: each link's queued sends, read once per call of _unanswered. A send still
        queued goes out on that link's next stream and is answered (or refused and rerouted)
        there: it stays awaited, so later sends of its session and partition stay held behind
        it instead of reaching the new owner first (never overtakes)."""
        link = self._by_target.get(send.target)
        if link is not None:
            if send.target not in queued:
                queued[send.target] = link.queued_sends()
            if (send.session_id, send.ref) in queued[send.target]:
                until_ms = self._now_ms() + int(REROUTE_WAIT_S * 1000)
                self._order.sent(send.session_id, send.partition, send.ref, send.target, until_ms)
                self._expire_at(until_ms)
                return
        self._order.gave_up(send.session_id, send.ref, send.target)  # its late answer is dropped
        self._unavailable_to(send.session_id, send.ref)

    def _moved(self, send: Unanswered) -> bool:
        owner = self.map.owners[send.partition]
        return owner is None or owner.target != send.target

    def _dropped(self, target: str, item: bytes) -> None:
        """A frame that failed too many writes: its sender hears UNAVAILABLE (retry)."""
        try:
            parsed = EdgeItem.FromString(item)
        except DecodeError:
            return
        self._unavailable(parsed)
        if log_write_partition(parsed.frame, self.map.partitions) is not None:
            partition = self._order.answered(parsed.session.session_id, parsed.frame.ref, target)
            if partition is not None:
                self._release(parsed.session.session_id, partition)

    def _unavailable(self, item: EdgeItem) -> None:
        self._unavailable_to(item.session.session_id, item.frame.ref)

    def _unavailable_to(self, session_id: int, ref: int) -> None:
        if session_id not in self._sessions:
            return
        error = error_frame(ref, ErrorCode.UNAVAILABLE, "router unavailable, retry")
        answer = RouterItem(session_ids=[session_id], frame=error.SerializeToString())
        if self._merged(answer):
            self._hub.deliver(answer.session_ids, PushedFrame(answer.frame))

    def deliver(self, batch: RouterBatch, source: str = "") -> None:
        """Hand each RouterItem's bytes, unparsed, to the listed sessions' outboxes (a refused
        item is re-routed instead)."""
        hub = self._hub
        items = batch.items
        if any(item.HasField("refused") for item in items):
            for item in items:
                if item.HasField("refused"):
                    self._refused(item.refused, source)
            items = [item for item in items if not item.HasField("refused")]  # type: ignore[assignment]
        if any(item.owner_epoch for item in items):
            admit = self.fence.admit
            items = [  # type: ignore[assignment]
                item for item in items if not item.owner_epoch or admit(item.partition, item.owner_epoch)
            ]
        order = self._order
        late: list[RouterItem] = []
        for item in items:
            if len(item.session_ids) == 1 and order.awaits_answers(item.session_ids[0]):
                ref = wire.reply_ref(item.frame)
                if ref:  # perhaps the answer to a send: its gate may let later sends go
                    partition = order.answered(item.session_ids[0], ref, source)
                    if partition is not None:
                        self._release(item.session_ids[0], partition)
                    elif order.late(item.session_ids[0], ref, source):
                        late.append(item)  # answered UNAVAILABLE by the edge already
        if late:
            items = [item for item in items if not any(item is dropped for dropped in late)]  # type: ignore[assignment]
        if self._orphans:
            for item in items:
                if len(item.session_ids) == 1:
                    key = (item.session_ids[0], wire.reply_ref(item.frame))
                    orphan = self._orphans.get(key)
                    if orphan is not None and (orphan.target == source or not source):
                        del self._orphans[key]
        if self._splits:
            items = [item for item in items if self._merged(item)]  # type: ignore[assignment]
        if telemetry.tracing_enabled():
            for item in items:
                pushed = PushedFrame(item.frame)
                try:
                    parent = telemetry.context_from(pushed.frame().trace)
                except DecodeError:
                    parent = None
                if parent is None:  # an untraced frame: no root span of its own
                    hub.deliver(item.session_ids, pushed)
                    continue
                with _tracer.start_as_current_span("edge.push", context=parent) as span:
                    span.set_attribute("hubbub.recipients", len(item.session_ids))
                    hub.deliver(item.session_ids, pushed)
                    message = pushed.frame().message
                    if message.seq and span.is_recording():  # the receipt will link to this push
                        users = hub.users_of(item.session_ids)
                        hub.delivery_traces.pushed(
                            users, message.conversation_id, message.seq, span.get_span_context()
                        )
            return
        for item in items:
            hub.deliver(item.session_ids, PushedFrame(item.frame))
