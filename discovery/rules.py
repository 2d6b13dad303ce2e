"""Which edge a client should use: a pure function of the registered nodes and the request.

Healthy (registered) and not draining; same zone first when asked; sticky for a reconnecting
device while its previous edge can still take it; otherwise the least loaded relative to its
size (connections / (capacity x weight)). Ties go to the edge with the highest rendezvous hash
of (user, edge), so a user tends to land on the same edge and each edge's share stays even.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

from discovery.model import NodeInfo, NodeKind
from kernel.errors import InvalidArgument, Unavailable

DEFAULT_CAPACITY = 10_000
"""Connections an edge that reports no capacity (0) is taken to be sized for."""
MAX_WEIGHT = 1_000.0
"""The largest weight an operator may give a node (`hubbub admin weight`); 1.0 = normal."""


def check_weight(weight: float) -> None:
    """InvalidArgument unless 0 < weight <= MAX_WEIGHT (to take no new clients, drain)."""
    if not (math.isfinite(weight) and 0 < weight <= MAX_WEIGHT):
        raise InvalidArgument(f"weight must be above 0 and at most {MAX_WEIGHT:g} (or drain the node)")


def affinity(user_id: str, node_id: str) -> int:
    """Stable across processes and restarts (unlike `hash()`), cheap for a few edges."""
    digest = hashlib.blake2b(f"{user_id}\x00{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assignable(node: NodeInfo) -> bool:
    """Registered means healthy (a dead node's registration goes with it); draining nodes
    keep their clients but take no new ones. A weight of 0 (or less) takes no new clients."""
    return node.kind is NodeKind.EDGE and not node.draining and node.weight > 0


def capacity_of(node: NodeInfo, default_capacity: int = DEFAULT_CAPACITY) -> int:
    return node.capacity if node.capacity > 0 else default_capacity


def load(node: NodeInfo, default_capacity: int = DEFAULT_CAPACITY) -> float:
    """Connections relative to what the edge is sized for and its operator's share."""
    return node.connections / (capacity_of(node, default_capacity) * node.weight)


def has_room(node: NodeInfo, default_capacity: int = DEFAULT_CAPACITY) -> bool:
    """Below its capacity: it can take one more connection."""
    return node.connections < capacity_of(node, default_capacity)


def choose_edge(
    nodes: Iterable[NodeInfo],
    user_id: str,
    *,
    zone: str = "",
    previous_edge_id: str = "",
    default_capacity: int = DEFAULT_CAPACITY,
) -> NodeInfo:
    """The edge for `user_id`; Unavailable when no edge can take clients.

    `previous_edge_id` (the edge a reconnecting device was on) wins while it is assignable
    and has room, whatever its zone; `zone` restricts the choice to that zone's edges when
    any is assignable, else any zone will do."""
    candidates = [node for node in nodes if assignable(node)]
    if not candidates:
        raise Unavailable("no edge available")
    if previous_edge_id:
        for node in candidates:
            if node.node_id == previous_edge_id and has_room(node, default_capacity):
                return node
    if zone:
        local = [node for node in candidates if node.zone == zone]
        candidates = local or candidates
    return min(
        candidates,
        key=lambda n: (load(n, default_capacity), -affinity(user_id, n.node_id), n.node_id),
    )
