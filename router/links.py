"""Outgoing side of the edge links: one outbox per connected edge that accumulates RouterItems
and hands them to the Link stream as one RouterBatch per tick, plus the table of live links."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from google.protobuf.message import DecodeError

from kernel.budget import fit_count
from kernel.errors import TooLarge
from kernel.grpc_server import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from protos import client_pb2, router_pb2
from router.frames import error_frame
from router.metrics import STALE_FANOUT_DROPPED

log = logging.getLogger(__name__)

MAX_QUEUED_BYTES = 8 * MAX_MESSAGE_BYTES
"""Bytes of RouterItems waiting for one edge that stopped reading; beyond it new ones are
dropped (as beyond the item limit), so a stalled edge cannot grow the router's memory."""
_ITEM_OVERHEAD = 16  # an item's tags and lengths in a RouterBatch, beyond its frame and ids
_SESSION_ID_BYTES = 10  # the most a packed uint64 session id can take
_FENCE_BYTES = 16  # RouterItem.partition and owner_epoch
Owns = Callable[[int, int], bool]
"""RouterPartitions.still_owns: is (partition, epoch) still this router's?"""
Fence = tuple[int, int]
"""(partition, owner epoch) of a message fan-out; (0, 0) = not fenced (every other item)."""
_UNFENCED: Fence = (0, 0)


def item_bytes(session_ids: Sequence[int], frame: bytes) -> int:
    """What one RouterItem costs in a batch, at most."""
    return len(frame) + _SESSION_ID_BYTES * len(session_ids) + _ITEM_OVERHEAD


class EdgeLink:
    """The outbox of one Link stream. `put` never awaits; the stream drains it, one
    RouterBatch per call cut below the gRPC message limit."""

    def __init__(
        self,
        edge_id: str,
        limit: int = 200_000,
        limit_bytes: int = MAX_QUEUED_BYTES,
        owns: Owns | None = None,
    ) -> None:
        """`owns`: checked when a fenced fan-out is taken for the stream; one of a partition
        this router lost meanwhile is dropped there (it would be a stale owner's push)."""
        self.edge_id = edge_id
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._owns = owns
        self._items: list[tuple[Sequence[int], bytes, Fence]] = []
        self._bytes = 0  # item_bytes() of everything queued
        self._wake = asyncio.Event()
        self._closed = False
        self._put_total = 0  # items ever queued
        self._taken_total = 0  # items ever taken for the stream (or dropped there as stale)
        self._progress = asyncio.Event()  # set whenever items are taken, or on close
        self.stale = 0  # fenced fan-outs dropped at take time: the partition was lost
        self.dropped = 0
        self.too_large = 0

    def put(self, session_ids: Sequence[int], frame: bytes, fence: Fence = _UNFENCED) -> None:
        """`fence`: (partition, owner epoch) of a message fan-out, carried to the edge."""
        if self._closed or not session_ids:
            return
        size = item_bytes(session_ids, frame)
        if size > MAX_BATCH_BYTES:
            # No batch can carry it: its recipients hear TOO_LARGE (with the ref, for a reply)
            # instead, and the link goes on.
            self.too_large += 1
            log.warning("edge %s: a %d-byte item is too large; answered TOO_LARGE", self.edge_id, size)
            frame = error_frame(_ref_of(frame), TooLarge("reply too large to deliver"))
            size = item_bytes(session_ids, frame)
            if size > MAX_BATCH_BYTES:
                return  # a session list no batch can carry: nothing sane to send
        if fence[1]:
            size += _FENCE_BYTES
        if len(self._items) >= self._limit or self._bytes + size > self._limit_bytes:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("edge %s is not draining: dropped %d items", self.edge_id, self.dropped)
            return
        self._items.append((session_ids, frame, fence))
        self._bytes += size
        self._put_total += 1
        self._wake.set()

    def put_refused(self, item: router_pb2.EdgeItem) -> None:
        """Hand a refused item back (STALE_OWNER): the edge re-routes it. Queued with no
        session ids, which no other item has."""
        if self._closed:
            return
        data = item.SerializeToString()
        size = item_bytes((), data)
        if (
            len(self._items) >= self._limit
            or self._bytes + size > self._limit_bytes
            or size > MAX_BATCH_BYTES
        ):
            self.dropped += 1
            return
        self._items.append(((), data, _UNFENCED))
        self._bytes += size
        self._put_total += 1
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._progress.set()

    async def flushed(self) -> None:
        """Until every item queued by now was handed to the stream (or the link closed): a
        planned handoff releases a partition only after its last fan-out went out."""
        mark = self._put_total
        while self._taken_total < mark and not self._closed:
            self._progress.clear()
            await self._progress.wait()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    async def next_batch(self) -> router_pb2.RouterBatch | None:
        """The oldest queued items that fit one batch (usually all of them); None once closed."""
        while not self._items:
            if self._closed:
                return None
            await self._wake.wait()
            self._wake.clear()
        items = self._take()
        self._taken_total += len(items)
        self._progress.set()
        if self._items:
            self._wake.set()  # the rest goes in the next batch
        batch = router_pb2.RouterBatch()
        add = batch.items.add
        owns = self._owns
        for session_ids, frame, (partition, epoch) in items:
            if epoch:
                if owns is not None and not owns(partition, epoch):
                    self.stale += 1  # lost since it was queued: no push from a stale owner
                    STALE_FANOUT_DROPPED.inc()
                    continue
                add(session_ids=session_ids, frame=frame, partition=partition, owner_epoch=epoch)
            elif session_ids:
                add(session_ids=session_ids, frame=frame)
            else:
                add(refused=router_pb2.EdgeItem.FromString(frame))
        return batch

    def _take(self) -> list[tuple[Sequence[int], bytes, Fence]]:
        items = self._items
        if self._bytes <= MAX_BATCH_BYTES:
            self._items, self._bytes = [], 0
            return items
        sizes = [
            item_bytes(session_ids, frame) + (_FENCE_BYTES if fence[1] else 0)
            for session_ids, frame, fence in items
        ]
        count = fit_count(sizes, MAX_BATCH_BYTES)
        taken = items[:count]
        del items[:count]
        self._bytes -= sum(sizes[:count])
        return taken


def _ref_of(frame: bytes) -> int:
    """The ref of a serialized ServerFrame (0 for a push, or if it does not parse)."""
    try:
        return client_pb2.ServerFrame.FromString(frame).ref
    except DecodeError:
        return 0


class LinkTable:
    """edge_id -> the live link of that edge. A reconnecting edge replaces its old link; the
    old stream's end then must not drop the sessions the new link replayed."""

    def __init__(self, outbox_limit: int = 200_000, owns: Owns | None = None) -> None:
        self._links: dict[str, EdgeLink] = {}
        self._outbox_limit = outbox_limit
        self._owns = owns

    def queued_bytes(self) -> int:
        return sum(link.queued_bytes for link in self._links.values())

    def attach(self, edge_id: str) -> EdgeLink:
        old = self._links.get(edge_id)
        if old is not None:
            old.close()
        link = self._links[edge_id] = EdgeLink(edge_id, self._outbox_limit, owns=self._owns)
        return link

    def detach(self, link: EdgeLink) -> bool:
        """Remove `link` if it is still the current one of its edge (True = it was)."""
        link.close()
        if self._links.get(link.edge_id) is link:
            del self._links[link.edge_id]
            return True
        return False

    def linked(self, edge_id: str) -> bool:
        """The edge has a live link to this router."""
        return edge_id in self._links

    def send(self, edge_id: str, session_ids: Sequence[int], frame: bytes) -> None:
        link = self._links.get(edge_id)
        if link is not None:
            link.put(session_ids, frame)

    def refuse(self, edge_id: str, item: router_pb2.EdgeItem) -> None:
        link = self._links.get(edge_id)
        if link is not None:
            link.put_refused(item)

    def send_plan(self, targets: Mapping[str, Sequence[int]], frame: bytes, fence: Fence = _UNFENCED) -> None:
        links = self._links
        for edge_id, session_ids in targets.items():
            link = links.get(edge_id)
            if link is not None:
                link.put(session_ids, frame, fence)

    async def flushed(self) -> None:
        """Until every link handed what is queued now to its stream (EdgeLink.flushed)."""
        await asyncio.gather(*(link.flushed() for link in list(self._links.values())))

    def close_all(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()
