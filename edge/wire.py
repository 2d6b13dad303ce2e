"""Hand-encoded EdgeBatch/EdgeItem bytes for the router link (router.proto).

A binary client's frame is already wire bytes: splicing them into the batch saves a parse
copy and a re-serialization per frame. Output parses as the EdgeBatch protobuf would build.
"""

from __future__ import annotations

from kernel.grpc_server import MAX_BATCH_BYTES
from kernel.protowire import varint
from protos.router_pb2 import SessionRef

ITEM_OVERHEAD = 6
"""Bytes an item costs in a batch beyond its own: its tag and (at most 5-byte) length."""
MAX_ITEM_BYTES = MAX_BATCH_BYTES - ITEM_OVERHEAD
"""The largest EdgeItem a batch can carry alone; larger ones are refused, never queued."""
MAX_FRAME_BYTES = MAX_ITEM_BYTES - 4096
"""The largest ClientFrame the edge routes: room is left for the session field and the trace
context the edge may inject. A larger one is answered TOO_LARGE before it reaches a link."""

# Field tags (field number << 3 | wire type 2 = length-delimited).
_EDGE_ID = b"\x0a"  # EdgeBatch.edge_id = 1
_ITEM = b"\x12"  # EdgeBatch.items = 2
_SESSION = b"\x0a"  # EdgeItem.session = 1
_FRAME = b"\x12"  # EdgeItem.frame = 2
_REROUTES = b"\x28"  # EdgeItem.reroutes = 5 (a varint)
_DEADLINE = varint(110 << 3)  # EdgeItem.reroute_deadline_ms = 110 (a varint)
_REF = 0x08  # ServerFrame.ref = 1 (a varint), first on the wire when set
# EdgeItem.opened = 3 / closed = 4, each holding one bool field 1.
_OPENED = (b"\x1a\x00", b"\x1a\x02\x08\x01")  # replay false / true
_CLOSED = (b"\x22\x00", b"\x22\x02\x08\x01")  # graceful false / true


def session_field(ref: SessionRef) -> bytes:
    """EdgeItem.session as a ready field; computed once per session and reused per frame."""
    data = ref.SerializeToString()
    return _SESSION + varint(len(data)) + data


def frame_item(session: bytes, frame: bytes, reroutes: int = 0, deadline_ms: int = 0) -> bytes:
    """An EdgeItem carrying a serialized ClientFrame (re-sent `reroutes` times after STALE_OWNER,
    held back first at `deadline_ms` - REROUTE_WAIT_S)."""
    item = session + _FRAME + varint(len(frame)) + frame
    if reroutes:
        item += _REROUTES + varint(reroutes)
    return item + _DEADLINE + varint(deadline_ms) if deadline_ms else item


def reply_ref(frame: bytes) -> int:
    """The `ref` of a serialized ServerFrame without parsing it (0 = none: a push). protobuf
    writes fields in number order, so a set ref comes first."""
    if not frame or frame[0] != _REF:
        return 0
    ref = shift = 0
    for byte in frame[1:11]:
        ref |= (byte & 0x7F) << shift
        if byte < 0x80:
            return ref
        shift += 7
    return 0


def opened_item(session: bytes, replay: bool) -> bytes:
    return session + _OPENED[replay]


def closed_item(session: bytes, graceful: bool) -> bytes:
    return session + _CLOSED[graceful]


def batch_header(edge_id: str) -> bytes:
    data = edge_id.encode()
    return _EDGE_ID + varint(len(data)) + data


def encode_batch(header: bytes, items: list[bytes]) -> bytes:
    """EdgeBatch bytes: the edge_id field, then each item as a length-delimited field."""
    parts = [header]
    append = parts.append
    for item in items:
        append(_ITEM)
        append(varint(len(item)))
        append(item)
    return b"".join(parts)
