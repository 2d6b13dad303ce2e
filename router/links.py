"""Outgoing side of the edge links: one outbox per connected edge that accumulates RouterItems
and hands them to the Link stream as one RouterBatch per tick, plus the table of live links."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from protos import router_pb2

log = logging.getLogger(__name__)


class EdgeLink:
    """The outbox of one Link stream. `put` never awaits; the stream drains it."""

    def __init__(self, edge_id: str, limit: int = 200_000) -> None:
        self.edge_id = edge_id
        self._limit = limit
        self._items: list[tuple[Sequence[int], bytes]] = []
        self._wake = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def put(self, session_ids: Sequence[int], frame: bytes) -> None:
        if self._closed or not session_ids:
            return
        if len(self._items) >= self._limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("edge %s is not draining: dropped %d items", self.edge_id, self.dropped)
            return
        self._items.append((session_ids, frame))
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed

    async def next_batch(self) -> router_pb2.RouterBatch | None:
        """Everything queued since the last call as one batch; None once closed."""
        while not self._items:
            if self._closed:
                return None
            await self._wake.wait()
            self._wake.clear()
        items, self._items = self._items, []
        batch = router_pb2.RouterBatch()
        add = batch.items.add
        for session_ids, frame in items:
            add(session_ids=session_ids, frame=frame)
        return batch


class LinkTable:
    """edge_id -> the live link of that edge. A reconnecting edge replaces its old link; the
    old stream's end then must not drop the sessions the new link replayed."""

    def __init__(self, outbox_limit: int = 200_000) -> None:
        self._links: dict[str, EdgeLink] = {}
        self._outbox_limit = outbox_limit

    def attach(self, edge_id: str) -> EdgeLink:
        old = self._links.get(edge_id)
        if old is not None:
            old.close()
        link = self._links[edge_id] = EdgeLink(edge_id, self._outbox_limit)
        return link

    def detach(self, link: EdgeLink) -> bool:
        """Remove `link` if it is still the current one of its edge (True = it was)."""
        link.close()
        if self._links.get(link.edge_id) is link:
            del self._links[link.edge_id]
            return True
        return False

    def send(self, edge_id: str, session_ids: Sequence[int], frame: bytes) -> None:
        link = self._links.get(edge_id)
        if link is not None:
            link.put(session_ids, frame)

    def send_plan(self, targets: Mapping[str, Sequence[int]], frame: bytes) -> None:
        links = self._links
        for edge_id, session_ids in targets.items():
            link = links.get(edge_id)
            if link is not None:
                link.put(session_ids, frame)

    def close_all(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()
