"""The static registry of the single node: nodes given at start, kept in memory,
connection counts read from callbacks the composition root hands in."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from discovery.model import NodeInfo, NodeKind, with_report
from discovery.rules import check_weight
from kernel.errors import InvalidArgument, NotFound
from kernel.ownership import PartitionMap

_KIND_ORDER = {kind: i for i, kind in enumerate(NodeKind)}


class StaticRegistry:
    """Implements `discovery.interface.NodeRegistry`. A connection source, when given for
    an edge, is read at each listing, so counts are current without any reporting (a watcher
    sees them at the next change, not as they move)."""

    def __init__(
        self,
        nodes: Iterable[NodeInfo] = (),
        *,
        connection_sources: dict[str, Callable[[], int]] | None = None,
        partition_map: Callable[[], PartitionMap] | None = None,
    ) -> None:
        self._partition_map = partition_map
        self._nodes: dict[str, NodeInfo] = {}
        self._draining: set[str] = set()
        self._weights: dict[str, float] = {}
        self._sources: dict[str, Callable[[], int]] = dict(connection_sources or {})
        self._watchers: set[asyncio.Event] = set()
        self._closed = False
        for node in nodes:
            self._put(node)

    @classmethod
    def single_node(
        cls,
        *,
        edge_id: str,
        ws_url: str,
        grpc_target: str,
        connections: Callable[[], int],
        router_target: str,
        messaging_target: str,
        presence_target: str,
        now_ms: int,
        partition_map: Callable[[], PartitionMap] | None = None,
    ) -> StaticRegistry:
        """The registry of `hubbub up`: one of each service; the router owns every partition
        (an empty partition list), as the single node's one router does. With `partition_map`
        (the edge's current map), the routers are listed as the map names them, each with the
        partitions it owns and its highest epoch."""
        return cls(
            [
                NodeInfo(edge_id, NodeKind.EDGE, grpc_target, ws_url, registered_at_ms=now_ms),
                NodeInfo("router-1", NodeKind.ROUTER, router_target, registered_at_ms=now_ms),
                NodeInfo("messaging-1", NodeKind.MESSAGING, messaging_target, registered_at_ms=now_ms),
                NodeInfo("presence-1", NodeKind.PRESENCE, presence_target, registered_at_ms=now_ms),
            ],
            connection_sources={edge_id: connections},
            partition_map=partition_map,
        )

    # ---------------------------------------------------------------- NodeRegistry
    async def register(self, node: NodeInfo) -> NodeInfo:
        self._put(node)
        self._changed()
        return self._view(self._nodes[node.node_id])

    async def update(
        self,
        node_id: str,
        *,
        connections: int | None = None,
        msgs_per_second: float | None = None,
        partitions: Sequence[int] | None = None,
        epoch: int | None = None,
    ) -> NodeInfo:
        node = self._get(node_id)
        self._nodes[node_id] = with_report(
            node, connections=connections, msgs_per_second=msgs_per_second, partitions=partitions, epoch=epoch
        )
        self._changed()
        return self._view(self._nodes[node_id])

    async def deregister(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)
        self._sources.pop(node_id, None)
        self._draining.discard(node_id)
        self._weights.pop(node_id, None)
        self._changed()

    async def list_nodes(self, kind: NodeKind | None = None) -> list[NodeInfo]:
        self._routers_from_map()
        nodes = [n for n in self._nodes.values() if kind is None or n.kind is kind]
        nodes.sort(key=lambda n: (_KIND_ORDER[n.kind], n.node_id))
        return [self._view(n) for n in nodes]

    async def set_draining(self, node_id: str, draining: bool) -> NodeInfo:
        node = self._get(node_id)
        if draining:
            self._draining.add(node_id)
        else:
            self._draining.discard(node_id)
        self._changed()
        return self._view(node)

    async def set_weight(self, node_id: str, weight: float) -> NodeInfo:
        check_weight(weight)
        node = self._get(node_id)
        self._weights[node_id] = weight
        self._changed()
        return self._view(node)

    async def watch(self, kind: NodeKind | None = None) -> AsyncIterator[list[NodeInfo]]:
        changed = asyncio.Event()
        self._watchers.add(changed)
        try:
            while not self._closed:
                yield await self.list_nodes(kind)
                await changed.wait()
                changed.clear()
        finally:
            self._watchers.discard(changed)

    async def close(self) -> None:
        self._sources.clear()
        self._closed = True
        self._changed()

    # ------------------------------------------------------------- in-process hooks
    def set_connections(self, node_id: str, connections: int) -> None:
        """A synchronous callback for an in-process edge that pushes its count."""
        self._nodes[node_id] = dataclasses.replace(self._get(node_id), connections=max(0, connections))
        self._changed()

    def _routers_from_map(self) -> None:
        if self._partition_map is None:
            return
        current = self._partition_map()
        if not any(owner is not None and owner.epoch for owner in current.owners):
            return  # no watched map yet (a static one names no real router)
        routers = current.routers()
        for node in list(self._nodes.values()):
            if node.kind is NodeKind.ROUTER and node.node_id not in routers and node.partitions:
                self._nodes[node.node_id] = dataclasses.replace(node, partitions=())
        for router_id, target in routers.items():
            held = current.held_by(router_id)
            old = self._nodes.get(router_id)
            base = old if old is not None else NodeInfo(router_id, NodeKind.ROUTER, target)
            self._nodes[router_id] = dataclasses.replace(
                base, grpc_target=target, partitions=tuple(sorted(held)), epoch=max(held.values())
            )

    # --------------------------------------------------------------------- helpers
    def _changed(self) -> None:
        for changed in self._watchers:
            changed.set()

    def _put(self, node: NodeInfo) -> None:
        if not node.node_id:
            raise InvalidArgument("node_id is required")
        self._nodes[node.node_id] = node
        if node.draining:
            self._draining.add(node.node_id)

    def _get(self, node_id: str) -> NodeInfo:
        node = self._nodes.get(node_id)
        if node is None:
            raise NotFound(f"unknown node {node_id!r}")
        return node

    def _view(self, node: NodeInfo) -> NodeInfo:
        source = self._sources.get(node.node_id)
        connections = max(0, source()) if source is not None else node.connections
        draining = node.node_id in self._draining
        weight = self._weights.get(node.node_id, node.weight)
        if (connections, draining, weight) == (node.connections, node.draining, node.weight):
            return node
        return dataclasses.replace(node, connections=connections, draining=draining, weight=weight)
