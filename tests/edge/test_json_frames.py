"""The fast JSON mapping gives exactly what protobuf's json_format gives: the same bytes out for
every ServerFrame, the same ClientFrame in for every JSON object it accepts (the rest it leaves
to json_format, errors included). Random frames of every kind, and random spellings of them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.codec import JSON, encode_json
from edge.json_frames import client_frame, server_frame_dict
from protos import client_pb2 as pb

T = FieldDescriptor
INTS = {
    T.TYPE_INT64: (-(2**63), 2**63 - 1),
    T.TYPE_SINT64: (-(2**63), 2**63 - 1),
    T.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    T.TYPE_UINT64: (0, 2**64 - 1),
    T.TYPE_FIXED64: (0, 2**64 - 1),
    T.TYPE_INT32: (-(2**31), 2**31 - 1),
    T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    T.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    T.TYPE_UINT32: (0, 2**32 - 1),
    T.TYPE_FIXED32: (0, 2**32 - 1),
}
TEXT = st.text(max_size=12)


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in INTS:
        low, high = INTS[field.type]
        return st.one_of(st.just(0), st.integers(low, high), st.sampled_from([low, high]))
    if field.type == T.TYPE_STRING:
        return TEXT
    if field.type == T.TYPE_BYTES:
        return st.binary(max_size=8)
    if field.type == T.TYPE_BOOL:
        return st.booleans()
    if field.type == T.TYPE_ENUM:
        assert field.enum_type is not None
        return st.sampled_from([v.number for v in field.enum_type.values] + [99])
    return st.floats(allow_nan=False, width=32)


def is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def messages(descriptor: Descriptor, cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    """Random messages of any type: each field unset or set, nested messages two levels deep."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            fields[field.name] = st.dictionaries(TEXT, TEXT, max_size=2)
        elif entry is not None:
            if depth >= 2:
                continue
            if is_repeated(field):
                item = messages(entry, _repeated_class(cls, field), depth + 1)
                fields[field.name] = st.lists(item, max_size=2)
            else:
                fields[field.name] = messages(entry, type(getattr(cls(), field.name)), depth + 1)
        else:
            value = scalar(field)
            fields[field.name] = st.lists(value, max_size=2) if is_repeated(field) else value
    return st.fixed_dictionaries({}, optional=fields).map(lambda kwargs: cls(**kwargs))


def _repeated_class(cls: type[Message], field: FieldDescriptor) -> type[Message]:
    holder = cls()
    item: Message = getattr(holder, field.name).add()
    return type(item)


def frames(frame_cls: type[Message]) -> st.SearchStrategy[Message]:
    """A frame of one random kind (and sometimes a ref and a trace)."""
    descriptor = frame_cls.DESCRIPTOR
    names = [field.name for field in descriptor.oneofs_by_name["kind"].fields]
    kinds = [descriptor.fields_by_name[name] for name in names]

    def build(kind: Any) -> st.SearchStrategy[Message]:  # a FieldDescriptor (two stub types)
        inner_cls = type(getattr(frame_cls(), kind.name))
        assert kind.message_type is not None
        return st.builds(
            lambda inner, ref, trace: frame_cls(**{kind.name: inner, "ref": ref, "trace": trace}),
            messages(kind.message_type, inner_cls),
            st.one_of(st.just(0), st.integers(0, 2**64 - 1)),
            st.one_of(st.just({}), st.dictionaries(TEXT, TEXT, max_size=4)),
        )

    return st.sampled_from(kinds).flatmap(build)


def same(a: Message, b: Message) -> bool:
    return a == b and a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # no timing
@given(frames(pb.ServerFrame))
def test_server_frames_encode_to_json_formats_bytes(frame: pb.ServerFrame) -> None:
    assert encode_json(frame) == orjson.dumps(json_format.MessageToDict(frame))


def reference(parsed: dict[str, Any]) -> pb.ClientFrame:
    frame = pb.ClientFrame()
    json_format.ParseDict(parsed, frame, ignore_unknown_fields=True)
    return frame


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # no timing
@given(frames(pb.ClientFrame))
def test_client_frames_as_json_format_writes_them_decode_to_the_same_frame(frame: pb.ClientFrame) -> None:
    parsed = orjson.loads(orjson.dumps(json_format.MessageToDict(frame)))
    assert same(JSON.decode(orjson.dumps(parsed)), frame)
    fast = client_frame(parsed)
    if fast is not None:
        assert same(fast, frame)


def respelled(draw: Callable[[st.SearchStrategy[Any]], Any], value: Any) -> Any:
    """`value` with random parts spelled otherwise: numbers as strings and back, nulls, odd
    scalars, unknown or snake_case keys: what a hand-written client might send."""
    roll = draw(st.integers(0, 9))
    if isinstance(value, dict):
        out = {k: respelled(draw, v) for k, v in value.items()}
        if roll == 0:
            key = draw(st.sampled_from(["fromTheFuture", "conversation_id", "client_msg_id", "send", "ping"]))
            out[key] = draw(st.sampled_from([{}, 1, "x", None]))
        return out
    if isinstance(value, list):
        return [respelled(draw, v) for v in value]
    if roll == 1 and isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if roll == 2 and isinstance(value, int) and not isinstance(value, bool):
        return draw(st.sampled_from([str(value), f" {value}", f"{value}.0", f"0{value}", float(value)]))
    if roll == 3:
        return draw(st.sampled_from([None, True, 1.5, -1, 2**64, "", "\ud800", [], {}]))
    return value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # no timing
@given(frames(pb.ClientFrame), st.data())
def test_whatever_the_fast_path_accepts_json_format_reads_the_same(
    frame: pb.ClientFrame, data: st.DataObject
) -> None:
    parsed = respelled(data.draw, orjson.loads(orjson.dumps(json_format.MessageToDict(frame))))
    fast = client_frame(parsed)
    if fast is not None:
        assert same(fast, reference(parsed))


HOT_SERVER = [
    pb.ServerFrame(
        message=pb.Message(
            conversation_id=2**40, seq=9, message_id=2**62, sender_id="a", sender_device="d",
            client_msg_id="c", content_type="text/plain", body="héllo", payload=b"\x00", sent_at_ms=1,
        )
    ),
    pb.ServerFrame(ref=3, sent=pb.Sent(conversation_id=1, seq=2, message_id=3, client_msg_id="c")),
    pb.ServerFrame(receipt=pb.Receipt(conversation_id=1, user_id="u", kind=pb.RECEIPT_KIND_READ)),
]  # fmt: skip


def test_the_hot_frames_take_the_fast_path() -> None:
    for frame in HOT_SERVER:
        assert server_frame_dict(frame) is not None
    send = {"ref": "7", "send": {"conversationId": "5", "clientMsgId": "m", "body": "b", "contentType": "t"}}
    assert client_frame(send) == pb.ClientFrame(
        ref=7, send=pb.SendMessage(conversation_id=5, client_msg_id="m", body="b", content_type="t")
    )
    delivered = {"delivered": {"cursors": [{"conversationId": "5", "seq": "9"}]}}
    assert client_frame(delivered) == reference(delivered)


def test_what_json_format_refuses_is_left_to_it() -> None:
    cases: tuple[dict[str, Any], ...] = (
        {"ref": "x"},
        {"send": {"conversationId": -1}},
        {"send": {"conversationId": str(2**64)}},
        {"send": {}, "ping": {}},
        {"send": {"body": 5}},
        {"ref": True},
        {"hello": {"logIn": {"userId": "a"}, "signUp": {"userId": "a"}}},
    )
    for parsed in cases:
        assert client_frame(parsed) is None


def test_a_repeated_bool_keeps_its_false_values() -> None:
    """No frame has one yet: a message made here stands for the first that will."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    from edge.json_frames import _message_encoder

    file = descriptor_pb2.FileDescriptorProto(name="review_flags.proto", package="review", syntax="proto3")
    flags = file.message_type.add(name="Flags")
    flags.field.add(
        name="values",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("review.Flags")
    message = message_factory.GetMessageClass(descriptor)(values=[True, False, True])
    assert _message_encoder(descriptor)(message) == json_format.MessageToDict(message)
