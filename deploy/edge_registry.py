"""The single node's edges and its static registry, wired in-process: each edge reports its
load to the registry and watches its own node for the draining mark, through the same small
interfaces (edge.load_report.LoadSink, edge.drain.DrainWatch) a cluster's registry serves."""

from __future__ import annotations

from collections.abc import AsyncIterator

from discovery import NodeKind, NodeRegistry


class RegistryLoadSink:
    """Implements edge.load_report.LoadSink over a NodeRegistry."""

    def __init__(self, registry: NodeRegistry, edge_id: str) -> None:
        self._registry = registry
        self._edge_id = edge_id

    async def report_load(self, connections: int, msgs_per_second: float) -> None:
        await self._registry.update(self._edge_id, connections=connections, msgs_per_second=msgs_per_second)


class RegistryDrainWatch:
    """Implements edge.drain.DrainWatch: the edge's own node's draining mark, at each change."""

    def __init__(self, registry: NodeRegistry, edge_id: str) -> None:
        self._registry = registry
        self._edge_id = edge_id

    async def draining(self) -> AsyncIterator[bool]:
        last: bool | None = None
        async for nodes in self._registry.watch(NodeKind.EDGE):
            mine = next((n for n in nodes if n.node_id == self._edge_id), None)
            draining = mine is not None and mine.draining
            if draining != last:
                last = draining
                yield draining
