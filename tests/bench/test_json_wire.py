"""The generator's JSON frames are the proto3 JSON mapping: what it sends parses (by json_format)
to the frame the binary generator sends, and what it reads of the edge's frames is right."""

from __future__ import annotations

from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from bench import json_wire
from bench.loadgen import encode_send, send_prefix, stamp
from edge.codec import encode_json
from protos import client_pb2 as pb


@given(st.integers(1, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 10**6), st.integers(0, 10**19))
def test_a_json_send_is_the_binary_send(ref: int, conversation_id: int, counter: int, at_ns: int) -> None:
    msg_id, body = b"3.%d" % counter, stamp(at_ns, counter)
    binary = pb.ClientFrame.FromString(encode_send(ref, send_prefix(conversation_id), msg_id, body))
    parsed = json_format.Parse(json_wire.encode_send(ref, conversation_id, msg_id, body), pb.ClientFrame())
    assert parsed == binary


def test_pushed_messages_and_acks_keep_the_fields_the_generator_reads() -> None:
    message = pb.ServerFrame(
        message=pb.Message(conversation_id=2**63, seq=7, message_id=9, sender_id="b-1a", body="t=1;n=2")
    )
    read = json_wire.decode(encode_json(message).decode())
    assert (read.message.conversation_id, read.message.seq) == (2**63, 7)
    assert (read.message.sender_id, read.message.body) == ("b-1a", "t=1;n=2")
    sent = pb.ServerFrame(ref=4, sent=pb.Sent(conversation_id=3, seq=7, client_msg_id="2.5"))
    assert json_wire.decode(encode_json(sent)) == sent


def test_other_frames_are_read_in_full() -> None:
    welcome = pb.ServerFrame(ref=1, welcome=pb.Welcome(user_id="u", token="t", heartbeat_interval_ms=15_000))
    assert json_wire.decode(encode_json(welcome)) == welcome
    frame = pb.ClientFrame(
        ref=2, delivered=pb.AckDelivered(cursors=[pb.ConversationCursor(conversation_id=1)])
    )
    assert json_format.Parse(json_wire.encode(frame), pb.ClientFrame()) == frame


def test_a_pushed_message_is_read_without_protobuf_and_a_reply_is_not_a_push() -> None:
    frame = pb.ServerFrame(message=pb.Message(conversation_id=2**63, seq=7, sender_id="b-1a", body="t=1;n=2"))
    parsed = json_wire.parse(encode_json(frame))
    assert json_wire.pushed(parsed) == json_wire.Pushed(2**63, 7, "b-1a", "t=1;n=2")
    assert json_wire.pushed({**parsed, "ref": "0"}) == json_wire.Pushed(2**63, 7, "b-1a", "t=1;n=2")
    assert json_wire.pushed({**parsed, "ref": "4"}) is None  # an answer to a request, by its ref
    assert json_wire.pushed(json_wire.parse(encode_json(pb.ServerFrame(pong=pb.Pong())))) is None
