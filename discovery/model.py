"""The discovery domain as plain values: the nodes of a deployment and what they hold.

No gRPC here; `discovery/convert.py` maps these to and from protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NodeKind(StrEnum):
    EDGE = "edge"
    ROUTER = "router"
    MESSAGING = "messaging"
    PRESENCE = "presence"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One registered node. `connections` is only meaningful for edges, `partitions` and
    `epoch` only for routers; `draining` nodes get no new clients or partitions."""

    node_id: str
    kind: NodeKind
    grpc_target: str = ""
    ws_url: str = ""
    connections: int = 0
    draining: bool = False
    registered_at_ms: int = 0
    partitions: tuple[int, ...] = ()
    epoch: int = 0
