"""Range checks of every id and number a client frame carries, for every frame kind, in one
place: a value out of range is refused here, before it reaches a router or a store.

Ids and seqs are uint64 on the wire but signed 64-bit in every store (`kernel.limits.MAX_ID`),
and a protobuf -1 arrives as 2**64-1; both are `INVALID_ARGUMENT` for that frame alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence

from edge.push_validation import check_push_delete, check_push_register
from kernel.errors import InvalidArgument
from kernel.limits import MAX_ID, MAX_RECEIPT_CURSORS, MAX_TRACEPARENT_CHARS, MAX_TRACESTATE_CHARS
from protos.client_pb2 import ClientFrame, ConversationCursor


def check_ranges(frame: ClientFrame, kind: str) -> None:
    """Raise InvalidArgument when a routed frame or query of `kind` carries a value out of range."""
    check = _CHECKS.get(kind)
    if check is not None:
        check(frame)


TRACE_KEYS: Mapping[str, int] = {"traceparent": MAX_TRACEPARENT_CHARS, "tracestate": MAX_TRACESTATE_CHARS}
"""The W3C trace-context entries a frame's `trace` map may carry on, with their length caps."""


def trim_trace(trace: MutableMapping[str, str]) -> None:
    """Keep only `traceparent` and `tracestate`, each within its W3C length; drop the rest
    (a client's map is any size: it must not ride along to every hop). Not an error: trace
    context is advisory, and a client never learns it was dropped."""
    for key in [key for key, value in trace.items() if len(value) > TRACE_KEYS.get(key, -1)]:
        del trace[key]


def _id(value: int, what: str) -> None:
    """A required id: 1..MAX_ID."""
    if value == 0:
        raise InvalidArgument(f"{what} is required")
    if value > MAX_ID:
        raise InvalidArgument(f"{what} out of range (at most {MAX_ID})")


def _seq(value: int, what: str) -> None:
    """A seq or anchor where 0 means "none": 0..MAX_ID."""
    if value > MAX_ID:
        raise InvalidArgument(f"{what} out of range (at most {MAX_ID})")


def _cursors(cursors: Sequence[ConversationCursor], what: str) -> None:
    for cursor in cursors:
        _id(cursor.conversation_id, f"{what} cursor conversationId")
        _seq(cursor.seq, f"{what} cursor seq")


def _receipts(cursors: Sequence[ConversationCursor], what: str) -> None:
    if not cursors:
        raise InvalidArgument(f"{what} needs cursors")
    if len(cursors) > MAX_RECEIPT_CURSORS:
        raise InvalidArgument(f"{what} carries more than {MAX_RECEIPT_CURSORS} cursors: split it")
    _cursors(cursors, what)


def _list_conversations(frame: ClientFrame) -> None:
    if frame.list_conversations.before_activity_ms < 0:
        raise InvalidArgument("listConversations beforeActivityMs must not be negative")


def _read_by(frame: ClientFrame) -> None:
    _id(frame.read_by.conversation_id, "readBy conversationId")
    _id(frame.read_by.seq, "readBy seq")


def _delete_message(frame: ClientFrame) -> None:
    _id(frame.delete_message.conversation_id, "deleteMessage conversationId")
    _id(frame.delete_message.seq, "deleteMessage seq")


def _history(frame: ClientFrame) -> None:
    _id(frame.history.conversation_id, "history conversationId")
    _seq(frame.history.anchor_seq, "history anchorSeq")


_CHECKS: dict[str, Callable[[ClientFrame], None]] = {
    "send": lambda f: _id(f.send.conversation_id, "send conversationId"),
    "delete_message": _delete_message,
    "delivered": lambda f: _receipts(f.delivered.cursors, "delivered"),
    "read": lambda f: _receipts(f.read.cursors, "read"),
    "typing": lambda f: _id(f.typing.conversation_id, "typing conversationId"),
    "update_group": lambda f: _id(f.update_group.conversation_id, "updateGroup conversationId"),
    "history": _history,
    "read_by": _read_by,
    "resume": lambda f: _cursors(f.resume.cursors, "resume"),
    "list_conversations": _list_conversations,
    "request_upload": lambda f: _id(f.request_upload.conversation_id, "requestUpload conversationId"),
    "request_downloads": lambda f: _id(
        f.request_downloads.conversation_id, "requestDownloads conversationId"
    ),
    "push_register": check_push_register,
    "push_delete": check_push_delete,
}
"""Frame kinds with no id or number to check (hello, ping, open_direct, create_group,
contact, goodbye) are absent; limits that are clamped (page sizes) are not refused."""
