"""The edge's Prometheus metrics, named in one place: connections by transport, frames in
and out by kind, what waits in clients' send queues, slow-consumer closes, router-link losses,
stale owners' fan-outs dropped."""

from __future__ import annotations

import weakref
from typing import Protocol

from prometheus_client import Counter, Gauge

from kernel.metrics import ByLabel, IntCounter
from protos.client_pb2 import ServerFrame

CONNECTIONS = Gauge("hubbub_edge_connections", "Open client connections, by transport", ["transport"])
SLOW_CONSUMER_CLOSES = Counter(
    "hubbub_edge_slow_consumer_closes", "Connections closed 4009: their send queue was full"
)
SEND_QUEUE_BYTES = Gauge("hubbub_edge_send_queue_bytes", "Bytes waiting in clients' send queues")
ROUTER_LINK_LOSSES = Counter(
    "hubbub_edge_router_link_losses", "Router links lost (each is then reconnected)", ["router"]
)
STALE_DELIVERIES_DROPPED = Counter(
    "hubbub_edge_stale_deliveries_dropped",
    "Fan-outs of a stale partition owner dropped before reaching clients (edge/stale_deliveries.py)",
)

connections = ByLabel(CONNECTIONS)
# Counted per frame: plain ints, exported at scrape time.
frames_in = IntCounter("hubbub_edge_frames_in", "Client frames received, by kind", "kind")
frames_out = IntCounter(
    "hubbub_edge_frames_out",
    "Frames queued to clients, by kind (a router's frames once per recipient session)",
    "kind",
)

# A reconnect storm's resumes, batched (edge/resume_batch.py): calls to messaging and the
# resumes they carried (a resume left out of a full batch and sent again counts again).
resume_calls = IntCounter(
    "hubbub_edge_resume_calls", "Calls to messaging answering resumes, by rpc (ResumeMany; Resume)", "rpc"
)
resumes_sent = IntCounter("hubbub_edge_resumes_sent", "Resumes carried by those calls, by rpc", "rpc")

_KIND_BY_FIELD = {field.number: field.name for field in ServerFrame.DESCRIPTOR.oneofs_by_name["kind"].fields}
_REF, _TRACE = 1, 2  # the fields a ServerFrame's encoding may start with, before its kind


def routed_kind(data: bytes) -> str:
    """The kind of a router's serialized ServerFrame, read from its first tags without
    parsing it (serializers write fields in number order: ref, trace entries, then kind)."""
    at, end = 0, len(data)
    while at < end:
        tag, at = _varint(data, at)
        field = tag >> 3
        if field == _REF:
            _, at = _varint(data, at)
        elif field == _TRACE:
            size, at = _varint(data, at)
            at += size
        else:
            return _KIND_BY_FIELD.get(field, "unknown")
    return "none"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


class QueueSource(Protocol):
    def queued_bytes(self) -> int: ...


_queues: weakref.WeakSet[QueueSource] = weakref.WeakSet()  # every edge's hub in this process
SEND_QUEUE_BYTES.set_function(lambda: float(sum(source.queued_bytes() for source in list(_queues))))


def track_send_queues(source: QueueSource) -> None:
    """Count `source`'s queued bytes in the gauge, at scrape time (nothing on the hot path)."""
    _queues.add(source)
