"""Bench clients on a cluster ask discovery for their edge, as real clients do: a bench URL
`discovery://HOST:PORT` stands for "whichever edge discovery assigns this user", resolved per
connection through Discovery.AssignEdge on one channel per generator process."""

from __future__ import annotations

import asyncio

from grpc import aio

from kernel.grpc_boundary import call
from kernel.grpc_server import insecure_channel
from protos import discovery_pb2, discovery_pb2_grpc

SCHEME = "discovery://"
ASSIGN_TIMEOUT_S = 30.0
"""Generous: thousands of clients ask at once on a loaded machine during set-up."""

_stubs: dict[
    tuple[int, str], tuple[asyncio.AbstractEventLoop, aio.Channel, discovery_pb2_grpc.DiscoveryAsyncStub]
] = {}
"""The loop is held too, so its id cannot be reused by a later loop while the entry lives."""


def discovery_url(target: str) -> str:
    """The bench URL whose clients each ask discovery at `target` (host:port) for an edge."""
    return f"{SCHEME}{target}"


def _stub(target: str) -> discovery_pb2_grpc.DiscoveryAsyncStub:
    """One channel per event loop and target: a generator asks thousands of times."""
    loop = asyncio.get_running_loop()
    key = (id(loop), target)
    if key not in _stubs:
        channel = insecure_channel(target)
        _stubs[key] = (loop, channel, discovery_pb2_grpc.DiscoveryStub(channel))
    return _stubs[key][2]


async def edge_url(url: str, who: str) -> str:
    """`url` itself, or for a discovery URL the WebSocket URL of the edge assigned to `who`
    (a user id; the rendezvous hash of the best-edge rule spreads users over equal edges)."""
    if not url.startswith(SCHEME):
        return url
    request = discovery_pb2.AssignEdgeRequest(user_id=who)
    assignment = await call(_stub(url.removeprefix(SCHEME)).AssignEdge(request, timeout=ASSIGN_TIMEOUT_S))
    ws_url: str = assignment.edge.ws_url
    if not ws_url:
        raise RuntimeError(f"discovery named edge {assignment.edge.node_id!r} without a WebSocket URL")
    return ws_url
