"""One edge assignment, checked and chosen: shared by the gRPC AssignEdge and the HTTP GET,
so both refuse the same input with the same codes."""

from __future__ import annotations

import re

from discovery.interface import NodeRegistry
from discovery.model import NodeInfo, NodeKind
from discovery.rules import choose_edge
from kernel.errors import InvalidArgument
from kernel.limits import MAX_DEVICE_ID_CHARS, MAX_NODE_ID_CHARS, MAX_ZONE_CHARS, USER_ID_PATTERN
from protos import discovery_pb2

_USER_ID = re.compile(USER_ID_PATTERN)


def check_assign_request(request: discovery_pb2.AssignEdgeRequest) -> None:
    """InvalidArgument naming the field a client got wrong."""
    if not request.user_id:
        raise InvalidArgument("user_id is required")
    if _USER_ID.fullmatch(request.user_id) is None:
        raise InvalidArgument(f"user_id must match {USER_ID_PATTERN}")
    for name, value, limit in (
        ("device_id", request.device_id, MAX_DEVICE_ID_CHARS),
        ("zone", request.zone, MAX_ZONE_CHARS),
        ("previous_edge_id", request.previous_edge_id, MAX_NODE_ID_CHARS),
    ):
        if len(value) > limit:
            raise InvalidArgument(f"{name} is longer than {limit} characters")


async def assign_edge(
    registry: NodeRegistry, request: discovery_pb2.AssignEdgeRequest, default_capacity: int
) -> NodeInfo:
    """The best edge for the request now; Unavailable when none can take clients."""
    check_assign_request(request)
    edges = await registry.list_nodes(NodeKind.EDGE)
    return choose_edge(
        edges,
        request.user_id,
        zone=request.zone,
        previous_edge_id=request.previous_edge_id,
        default_capacity=default_capacity,
    )
