"""Which edge a client should use: a pure function of the registered nodes and the user.

Least connections wins; ties go to the edge with the highest rendezvous hash of
(user, edge), so a user tends to land on the same edge and each edge's share stays even.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from discovery.model import NodeInfo, NodeKind
from kernel.errors import Unavailable


def affinity(user_id: str, node_id: str) -> int:
    """Stable across processes and restarts (unlike `hash()`), cheap for a few edges."""
    digest = hashlib.blake2b(f"{user_id}\x00{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assignable(node: NodeInfo) -> bool:
    """Registered means healthy (a dead node's registration goes with it); draining nodes
    keep their clients but take no new ones."""
    return node.kind is NodeKind.EDGE and not node.draining


def choose_edge(nodes: Iterable[NodeInfo], user_id: str) -> NodeInfo:
    """The edge for `user_id`; Unavailable when no edge can take clients."""
    best: NodeInfo | None = None
    best_key: tuple[int, int, str] | None = None
    for node in nodes:
        if not assignable(node):
            continue
        key = (node.connections, -affinity(user_id, node.node_id), node.node_id)
        if best_key is None or key < best_key:
            best, best_key = node, key
    if best is None:
        raise Unavailable("no edge available")
    return best
