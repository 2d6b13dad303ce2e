"""The router's Prometheus metrics, named in one place: send-to-ack and delivery latency,
fan-out sizes, links opened and what waits in them, and queued fan-out of lost partitions dropped."""

from __future__ import annotations

import time
import weakref
from typing import Protocol

from prometheus_client import Counter, Gauge

from kernel.metrics import LATENCY_BUCKETS_S, SIZE_BUCKETS, IntHistogram

SEND_ACK_SECONDS = IntHistogram(
    "hubbub_router_send_ack_seconds",
    "From a send reaching the router to its sent ack queued for the edge (store commit included)",
    buckets=LATENCY_BUCKETS_S,
)
DELIVERY_SECONDS = IntHistogram(
    "hubbub_router_delivery_seconds",
    "From a send reaching the router to the message queued for every recipient's edge",
    buckets=LATENCY_BUCKETS_S,
)
FANOUT_SESSIONS = IntHistogram(
    "hubbub_router_fanout_sessions", "Online sessions a message is delivered to", buckets=SIZE_BUCKETS
)
FANOUT_EDGES = IntHistogram(
    "hubbub_router_fanout_edges", "Edges a message is delivered to", buckets=SIZE_BUCKETS
)
EDGE_LINK_QUEUED_BYTES = Gauge("hubbub_router_edge_link_queued_bytes", "Bytes waiting in links to edges")
STALE_FANOUT_DROPPED = Counter(
    "hubbub_router_stale_fanout_dropped",
    "Queued fan-outs of a partition this router lost before they reached a link stream (dropped)",
)

LINKS_OPENED = Counter(
    "hubbub_router_links_opened",
    "Link sessions edges opened, by transport: grpc, or local (an edge in this process, no gRPC)",
    ["transport"],
)


def now_ns() -> int:
    return time.monotonic_ns()


def observe_ack(accepted_ns: int) -> None:
    SEND_ACK_SECONDS.observe((time.monotonic_ns() - accepted_ns) / 1e9)


def observe_delivery(accepted_ns: int, edges: int, sessions: int) -> None:
    """One message fanned out (to no one online: sizes 0, no delivery latency)."""
    if edges:
        DELIVERY_SECONDS.observe((time.monotonic_ns() - accepted_ns) / 1e9)
    FANOUT_EDGES.observe(edges)
    FANOUT_SESSIONS.observe(sessions)


class QueueSource(Protocol):
    def queued_bytes(self) -> int: ...


_links: weakref.WeakSet[QueueSource] = weakref.WeakSet()
EDGE_LINK_QUEUED_BYTES.set_function(lambda: float(sum(source.queued_bytes() for source in list(_links))))


def track_links(source: QueueSource) -> None:
    """Count `source`'s queued bytes in the gauge, at scrape time."""
    _links.add(source)
