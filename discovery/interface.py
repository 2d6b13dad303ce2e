"""The node registry contract: one small interface, one module per backend (static for
the single node here; ZooKeeper later, where a registration is an ephemeral znode)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from discovery.model import NodeInfo, NodeKind
from kernel.ownership import PartitionMap


class NodeRegistry(Protocol):
    async def register(self, node: NodeInfo) -> NodeInfo:
        """Add the node, or replace its registration (a restart under the same id).
        The registration lives as long as the registering process (ephemeral)."""

    async def update(
        self,
        node_id: str,
        *,
        connections: int | None = None,
        msgs_per_second: float | None = None,
        partitions: Sequence[int] | None = None,
        epoch: int | None = None,
    ) -> NodeInfo:
        """Change what a node reports about itself (its load); NotFound for an unknown node."""

    async def deregister(self, node_id: str) -> None:
        """Remove the node; idempotent."""

    async def list_nodes(self, kind: NodeKind | None = None) -> list[NodeInfo]:
        """Registered nodes (of one kind, or all), sorted by kind then id."""

    async def set_draining(self, node_id: str, draining: bool) -> NodeInfo:
        """An operator's mark, kept apart from the node's own data so a re-registration
        does not undo it. NotFound for an unknown node."""

    async def set_weight(self, node_id: str, weight: float) -> NodeInfo:
        """An operator's weight for the node (`hubbub admin weight`), kept apart from its own
        data like the drain mark: it wins over the weight the node registers with and outlives
        its re-registrations (and this registry's restarts, where it is persistent).
        InvalidArgument for a weight outside discovery.rules.check_weight; NotFound for an
        unknown node."""

    def watch(self, kind: NodeKind | None = None) -> AsyncIterator[list[NodeInfo]]:
        """The registered nodes (of one kind, or all; as `list_nodes` gives them) now, then
        again after every change (ZooKeeper: a children watch and data watches, never
        polling). A slow reader may skip intermediate lists, never see an older one after a
        newer one. Ends when the registry closes."""

    async def close(self) -> None:
        """Release resources (and, for ZooKeeper, the session: this process's nodes go)."""


@dataclass(frozen=True, slots=True)
class PartitionListing:
    """What `hubbub admin partitions` shows: the owners now, and the operator's placements
    (partition -> router id; `hubbub admin move` on a cluster)."""

    map: PartitionMap
    placements: Mapping[int, str] = field(default_factory=dict)


ListPartitions = Callable[[], Awaitable[PartitionListing]]
"""Where discovery reads the partitions from (ZooKeeper on a cluster, the edge's map on a node)."""
