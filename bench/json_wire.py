"""The load generator's side of the JSON subprotocol (`hubbub.v1.json`, what browsers speak):
hand-written send frames and a lean read of the pushed frames the generator counts, so that
at 30,000+ msgs/s the generator's CPU goes to load, not to json_format. Written apart from
the edge's codec on purpose: a mistake in one is not mirrored in the other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from google.protobuf import json_format

from protos import client_pb2 as pb

SUBPROTOCOL = "hubbub.v1.json"


def encode_send(ref: int, conversation_id: int, client_msg_id: bytes, body: bytes) -> str:
    """ClientFrame{ref, send{conversationId, clientMsgId, body}} as the proto3 JSON mapping writes
    it (64-bit ints as strings). Bench ids and bodies are ASCII without quotes: no escaping."""
    return (
        f'{{"ref":"{ref}","send":{{"conversationId":"{conversation_id}",'
        f'"clientMsgId":"{client_msg_id.decode()}","body":"{body.decode()}"}}}}'
    )


def encode(frame: pb.ClientFrame) -> str:
    """Any other ClientFrame (set-up, acks, pings): json_format, off the hot path."""
    return orjson.dumps(json_format.MessageToDict(frame)).decode()


def _int(value: Any) -> int:
    return int(value) if value else 0


class Pushed(NamedTuple):
    """What the generator reads of a pushed message, without building a protobuf object."""

    conversation_id: int
    seq: int
    sender_id: str
    body: str


def parse(data: bytes | str) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(data)
    return parsed


def pushed(parsed: dict[str, Any]) -> Pushed | None:
    """The pushed message a parsed frame carries (None for any other frame, replies included)."""
    message = parsed.get("message")
    if message is None or _int(parsed.get("ref")):
        return None
    return Pushed(
        _int(message.get("conversationId")),
        _int(message.get("seq")),
        message.get("senderId", ""),
        message.get("body", ""),
    )


def decode(data: bytes | str) -> pb.ServerFrame:
    """A ServerFrame from JSON text (`frame_of`)."""
    return frame_of(parse(data))


def frame_of(parsed: dict[str, Any]) -> pb.ServerFrame:
    """A ServerFrame from parsed JSON. Pushed messages and send acks (the frames counted per
    message) get the fields the generator reads; every other frame gets json_format in full."""
    ref = _int(parsed.get("ref"))
    message = parsed.get("message")
    if message is not None:
        return pb.ServerFrame(
            ref=ref,
            message=pb.Message(
                conversation_id=_int(message.get("conversationId")),
                seq=_int(message.get("seq")),
                sender_id=message.get("senderId", ""),
                body=message.get("body", ""),
            ),
        )
    sent = parsed.get("sent")
    if sent is not None:
        return pb.ServerFrame(
            ref=ref,
            sent=pb.Sent(
                conversation_id=_int(sent.get("conversationId")),
                seq=_int(sent.get("seq")),
                client_msg_id=sent.get("clientMsgId", ""),
            ),
        )
    frame = pb.ServerFrame()
    json_format.ParseDict(parsed, frame, ignore_unknown_fields=True)
    return frame
