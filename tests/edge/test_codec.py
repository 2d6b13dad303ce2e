"""Frames <-> bytes for both subprotocols; garbage is a BAD_FRAME, never a crash."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.codec import JSON, PROTO, PROTO_SUBPROTOCOL, PushedFrame, UndecodableFrame, codec_for
from kernel.errors import BadFrame
from protos import client_pb2 as pb

FRAME = pb.ClientFrame(
    ref=7,
    send=pb.SendMessage(conversation_id=2**63 + 5, client_msg_id="m-1", body="héllo ✓", payload=b"\x00\xff"),
)


def test_binary_round_trip() -> None:
    assert PROTO.decode(FRAME.SerializeToString()) == FRAME


def test_json_round_trip_uses_the_proto3_mapping() -> None:
    text = (
        '{"ref": "7", "send": {"conversationId": "%d", "clientMsgId": "m-1",'
        ' "body": "héllo ✓", "payload": "AP8="}}'
    )
    assert JSON.decode(text % (2**63 + 5)) == FRAME
    snake = (
        '{"ref": 7, "send": {"conversation_id": %d, "client_msg_id": "m-1",'
        ' "body": "héllo ✓", "payload": "AP8="}}'
    )
    assert JSON.decode((snake % (2**63 + 5)).encode()) == FRAME


def test_server_frames_encode_to_json_and_binary() -> None:
    frame = pb.ServerFrame(ref=3, sent=pb.Sent(conversation_id=9, seq=1, client_msg_id="m"))
    assert orjson.loads(JSON.encode(frame)) == {
        "ref": "3",
        "sent": {"conversationId": "9", "seq": "1", "clientMsgId": "m"},
    }
    assert pb.ServerFrame.FromString(PROTO.encode(frame)) == frame


def test_pushed_frames_pass_through_to_binary_and_convert_once_for_json() -> None:
    data = pb.ServerFrame(message=pb.Message(conversation_id=1, seq=2, body="b")).SerializeToString()
    pushed = PushedFrame(data)
    assert PROTO.encode_pushed(pushed) is data
    first = JSON.encode_pushed(pushed)
    assert JSON.encode_pushed(pushed) is first  # cached for the next JSON recipient
    assert orjson.loads(first)["message"]["body"] == "b"


@pytest.mark.parametrize(
    "data",
    [b"\xff\x00garbage", "not json", "[1, 2]", '{"send": 5}', '{"ref": "x"}', b"\xff\xfe"],
)
def test_garbage_is_a_bad_frame(data: bytes | str) -> None:
    codec = PROTO if isinstance(data, bytes) and data.startswith(b"\xff\x00") else JSON
    with pytest.raises(BadFrame):
        codec.decode(data)


def test_text_on_a_binary_connection_is_a_bad_frame() -> None:
    with pytest.raises(BadFrame):
        PROTO.decode("hello")


def test_unknown_json_fields_are_ignored_like_unknown_protobuf_fields() -> None:
    assert JSON.decode('{"ref": 1, "fromTheFuture": {}}') == pb.ClientFrame(ref=1)


def test_subprotocol_choice() -> None:
    assert codec_for(PROTO_SUBPROTOCOL) is PROTO
    assert codec_for(None) is JSON


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_bad_frame(data: bytes) -> None:
    for codec in (PROTO, JSON):
        try:
            frame = codec.decode(data)
        except BadFrame:
            continue
        assert isinstance(frame, pb.ClientFrame)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '{"ref": "1", "hello": {"token": "t", "logIn": {"userId": "a"}}}',
            "hello carries more than one choice of auth",
        ),
        ('{"send": {"conversationId": "abc"}}', "conversationId is not an integer"),
        ('{"send": {"conversationId": "-1"}}', "conversationId is out of range"),
        ('{"read": {"cursors": [{"seq": "x"}]}}', "cursors.seq is not an integer"),
        ('{"send": {"body": 5}}', "body is not a string"),
    ],
)
def test_a_refused_json_frame_is_explained_in_the_clients_terms(text: str, said: str) -> None:
    with pytest.raises(BadFrame) as refused:
        JSON.decode(text)
    assert refused.value.message == f"not a ClientFrame: {said}"
    assert "hubbub.v1" not in refused.value.message and "int()" not in refused.value.message


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ('{"ref": "3", "history": {"conversationId": "-1"}}', 3),
        ('{"ref": 3, "send": 5}', 3),
        ('{"ref": "18446744073709551615", "history": {"conversationId": "18446744073709551616"}}', 2**64 - 1),
        ('{"ref": "18446744073709551616", "send": 5}', 0),
        ('{"ref": "-3", "send": 5}', 0),
        ('{"ref": true, "send": 5}', 0),
        ('{"send": 5}', 0),
    ],
)
def test_an_undecodable_json_frame_keeps_its_ref_when_it_is_a_valid_uint64(text: str, ref: int) -> None:
    with pytest.raises(UndecodableFrame) as refused:
        JSON.decode(text)
    assert refused.value.ref == ref
