"""Small builders for the ServerFrames the router emits, and who a request came from.
Frames are serialized here once; the bytes go to every session that should see them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from kernel.error_frames import fill_from
from kernel.errors import HubbubError
from protos import client_pb2


class Origin(NamedTuple):
    """The session an item came from: replies and errors go back to exactly this session.
    A tuple: one is built per frame, at half a frozen dataclass's cost."""

    edge_id: str
    session_id: int
    user_id: str
    device_id: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.edge_id, self.session_id)


def error_frame(ref: int, error: HubbubError) -> bytes:
    """The Error frame for a typed error, filled as the edge's are (a RATE_LIMITED keeps its
    retry_after_ms)."""
    frame = client_pb2.ServerFrame(ref=ref)
    fill_from(frame.error, error)
    return frame.SerializeToString()


def error_frame_from_proto(ref: int, error: client_pb2.Error) -> bytes:
    frame = client_pb2.ServerFrame(ref=ref)
    frame.error.CopyFrom(error)
    return frame.SerializeToString()


def sent_frame(
    ref: int, message: client_pb2.Message, duplicate: bool, trace: Mapping[str, str] | None = None
) -> bytes:
    frame = client_pb2.ServerFrame(ref=ref, trace=trace)
    sent = frame.sent
    sent.conversation_id = message.conversation_id
    sent.seq = message.seq
    sent.message_id = message.message_id
    sent.client_msg_id = message.client_msg_id
    sent.sent_at_ms = message.sent_at_ms
    sent.duplicate = duplicate
    return frame.SerializeToString()


def deleted_frame(ref: int, deletion: client_pb2.Message, trace: Mapping[str, str] | None = None) -> bytes:
    """The answer to delete_message: its deletion entry (stored now, or by an earlier repeat)."""
    frame = client_pb2.ServerFrame(ref=ref, trace=trace)
    frame.message_deleted.CopyFrom(deletion)
    return frame.SerializeToString()


def cursors_stored_frame(ref: int, cursors: int) -> bytes:
    """The answer to a delivered/read frame once every cursor it carried is stored."""
    frame = client_pb2.ServerFrame(ref=ref)
    frame.cursors_stored.cursors = cursors
    return frame.SerializeToString()


def presence_frame(event: client_pb2.PresenceEvent) -> bytes:
    frame = client_pb2.ServerFrame()
    frame.presence.CopyFrom(event)
    return frame.SerializeToString()
