"""Asking discovery which edge to use (Discovery.AssignEdge, open to clients): on connecting,
after a cut, and when an edge tells the client to move (a Reconnect frame)."""

from __future__ import annotations

from kernel.errors import HubbubError, Unavailable
from kernel.grpc_boundary import call
from kernel.grpc_server import insecure_channel
from protos import discovery_pb2, discovery_pb2_grpc
from sdk.transport import TransportKind

ASSIGN_TIMEOUT_S = 5.0


async def assign_edge(
    discovery: str, kind: TransportKind, *, user_id: str, device_id: str = "", previous_edge_id: str = ""
) -> str:
    """The target to connect to (a ws:// URL, or host:port for gRPC); Unavailable when
    discovery cannot be asked or has no edge."""
    request = discovery_pb2.AssignEdgeRequest(
        user_id=user_id, device_id=device_id, previous_edge_id=previous_edge_id
    )
    try:
        async with insecure_channel(discovery) as channel:
            stub = discovery_pb2_grpc.DiscoveryStub(channel)
            assignment = await call(stub.AssignEdge(request, timeout=ASSIGN_TIMEOUT_S))
    except HubbubError:
        raise
    except Exception as exc:  # a bad address: the caller falls back as for an unreachable one
        raise Unavailable(f"discovery at {discovery} cannot be asked") from exc
    target = assignment.edge.grpc_target if kind == "grpc" else assignment.edge.ws_url
    if not target:
        raise Unavailable(f"discovery named edge {assignment.edge.node_id} without a {kind} address")
    return target
