"""The discovery domain as plain values: the nodes of a deployment and what they hold.

No gRPC here; `discovery/convert.py` maps these to and from protobuf.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class NodeKind(StrEnum):
    EDGE = "edge"
    ROUTER = "router"
    MESSAGING = "messaging"
    PRESENCE = "presence"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One registered node. `connections` and `msgs_per_second` (its load, reported by the
    node itself) are meaningful for edges, `partitions` and `epoch` for routers; `draining`
    nodes get no new clients or partitions. `zone` (e.g. an availability zone; "" = none),
    `capacity` (connections it is sized for; 0 = unknown) and `weight` (an operator's share,
    1.0 = normal) are set at registration and let the best-edge rule compare unequal nodes."""

    node_id: str
    kind: NodeKind
    grpc_target: str = ""
    ws_url: str = ""
    connections: int = 0
    draining: bool = False
    registered_at_ms: int = 0
    partitions: tuple[int, ...] = ()
    epoch: int = 0
    zone: str = ""
    capacity: int = 0
    weight: float = 1.0
    msgs_per_second: float = 0.0


def with_report(
    node: NodeInfo,
    *,
    connections: int | None = None,
    msgs_per_second: float | None = None,
    partitions: Sequence[int] | None = None,
    epoch: int | None = None,
) -> NodeInfo:
    """`node` with what it reports about itself changed (None = unchanged; load floored at 0):
    the one rule every registry's `update` applies."""
    return dataclasses.replace(
        node,
        connections=node.connections if connections is None else max(0, connections),
        msgs_per_second=node.msgs_per_second if msgs_per_second is None else max(0.0, msgs_per_second),
        partitions=node.partitions if partitions is None else tuple(partitions),
        epoch=node.epoch if epoch is None else epoch,
    )
