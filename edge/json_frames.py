"""The proto3 JSON mapping of client frames without json_format: a plan per message type, read
from its descriptor once, converts the common frames (SendMessage in; Message, Sent, Receipt
out) at a fraction of json_format's CPU (`hubbub bench codec`). Whatever a plan does not cover
exactly (maps but `trace`, floats, optional scalars, bytes in, any unusual spelling of a value)
answers None, and the caller falls back to json_format: the bytes and frames are json_format's
always (tests/edge/test_json_frames.py compares both over random frames).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from protos.client_pb2 import ClientFrame, ServerFrame

Json = Any
Encoder = Callable[[Any], Json]  # a field's value -> its JSON value (None: not covered)
Decoder = Callable[[Json], Any]  # a JSON value -> the field's value (raises _NotCovered)

_T = FieldDescriptor
_INT64 = frozenset((_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64))
_UINT64 = frozenset((_T.TYPE_UINT64, _T.TYPE_FIXED64))
_INT32 = frozenset((_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32))
_UINT32 = frozenset((_T.TYPE_UINT32, _T.TYPE_FIXED32))
_RANGES = {
    **dict.fromkeys(_INT64, (-(2**63), 2**63 - 1)),
    **dict.fromkeys(_UINT64, (0, 2**64 - 1)),
    **dict.fromkeys(_INT32, (-(2**31), 2**31 - 1)),
    **dict.fromkeys(_UINT32, (0, 2**32 - 1)),
}
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,19})")


class _NotCovered(Exception):
    """A value this module does not convert by itself: json_format decides it."""


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return entry is not None and entry.GetOptions().map_entry


def _sub(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None, field.full_name
    return field.message_type


def _enum_numbers(field: FieldDescriptor) -> dict[str, int]:
    assert field.enum_type is not None, field.full_name
    return {value.name: value.number for value in field.enum_type.values}


# ------------------------------------------------------------------ encoding


def _scalar_encoder(field: FieldDescriptor) -> Encoder | None:
    kind = field.type
    if kind in _INT64 or kind in _UINT64:
        return str
    if kind in _INT32 or kind in _UINT32 or kind == _T.TYPE_STRING or kind == _T.TYPE_BOOL:
        return lambda value: value  # a bool as it is: a repeated one holds False values too
    if kind == _T.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("ascii")
    if kind == _T.TYPE_ENUM:
        names = {number: name for name, number in _enum_numbers(field).items()}
        return names.get  # an unknown number: None, so json_format writes it
    return None  # floats: NaN, infinities and exponents are json_format's business


def _message_encoder(descriptor: Descriptor) -> Callable[[Message], dict[str, Json] | None]:
    """Message -> the dict MessageToDict gives (keys in field-number order), None if not covered."""
    plan: list[tuple[str, str, Encoder | None, bool, bool]] = []  # name, json, encode, message, repeated
    for field in sorted(descriptor.fields, key=lambda f: f.number):
        repeated = _is_repeated(field)
        if field.type == _T.TYPE_MESSAGE:
            covered = not _is_map(field) and field.message_type is not descriptor
            nested: Encoder | None = _message_encoder(_sub(field)) if covered else None
            plan.append((field.name, field.json_name, nested, True, repeated))
        elif field.has_presence and not repeated:
            plan.append((field.name, field.json_name, None, True, False))  # proto3 `optional`
        else:
            plan.append((field.name, field.json_name, _scalar_encoder(field), False, repeated))

    def encode(message: Message) -> dict[str, Json] | None:
        out: dict[str, Json] = {}
        for name, json_name, convert, is_message, repeated in plan:
            if repeated:
                values = getattr(message, name)
                if not values:
                    continue
                if convert is None:
                    return None
                items = [convert(v) for v in values]
                if None in items:
                    return None
                out[json_name] = items
            elif is_message:
                if not message.HasField(name):
                    continue
                if convert is None:
                    return None
                value = convert(getattr(message, name))
                if value is None:
                    return None
                out[json_name] = value
            else:
                value = getattr(message, name)
                if not value:
                    continue
                if convert is None:
                    return None
                converted = convert(value)
                if converted is None:
                    return None
                out[json_name] = converted
        return out

    return encode


_SERVER_KINDS = {
    field.name: (field.json_name, _message_encoder(_sub(field)))
    for field in ServerFrame.DESCRIPTOR.oneofs_by_name["kind"].fields
}


def server_frame_dict(frame: ServerFrame) -> dict[str, Json] | None:
    """What json_format.MessageToDict(frame) gives, or None where it must say it itself."""
    out: dict[str, Json] = {"ref": str(frame.ref)} if frame.ref else {}
    if frame.trace:
        out["trace"] = dict(frame.trace)  # map<string, string>: json_format's own iteration order
    kind = frame.WhichOneof("kind")
    if kind is None:
        return out
    json_name, encode = _SERVER_KINDS[kind]
    inner = encode(getattr(frame, kind))
    if inner is None:
        return None
    out[json_name] = inner
    return out


# ------------------------------------------------------------------ decoding


def _integer_decoder(field: FieldDescriptor) -> Decoder:
    low, high = _RANGES[field.type]
    wide = field.type in _INT64 or field.type in _UINT64

    def decode(value: Json) -> int:
        if type(value) is str and wide and _DECIMAL.fullmatch(value):
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise _NotCovered
        return value

    return decode


def _typed(kind: type) -> Decoder:
    def decode(value: Json) -> Any:
        if type(value) is not kind:
            raise _NotCovered
        return value

    return decode


def _enum_decoder(field: FieldDescriptor) -> Decoder:
    numbers = _enum_numbers(field)

    def decode(value: Json) -> int:
        if type(value) is not str or value not in numbers:
            raise _NotCovered
        return numbers[value]

    return decode


def _field_decoder(field: FieldDescriptor, parent: Descriptor) -> Decoder | None:
    if field.type == _T.TYPE_MESSAGE:
        if _is_map(field) or field.message_type is parent:
            return None
        return _message_decoder(_sub(field))
    if field.has_presence and not _is_repeated(field):
        return None
    if field.type in _RANGES:
        return _integer_decoder(field)
    if field.type == _T.TYPE_STRING:
        return _typed(str)
    if field.type == _T.TYPE_BOOL:
        return _typed(bool)
    if field.type == _T.TYPE_ENUM:
        return _enum_decoder(field)
    return None  # bytes (base64 has several accepted spellings) and floats


def _message_decoder(descriptor: Descriptor) -> Callable[[Json], Message]:
    """A JSON object -> the message json_format would parse; _NotCovered where it must decide.

    Only the camelCase names MessageToDict writes are covered: json_format also reads the proto
    names, nulls and unknown fields, and has its own words for what it refuses."""
    cls = _message_class(descriptor)
    plan: dict[str, tuple[str, Decoder, bool, str]] = {}  # json name -> name, decode, repeated, oneof
    for field in descriptor.fields:
        decoder = _field_decoder(field, descriptor)
        if decoder is not None:
            oneof = field.containing_oneof.name if field.containing_oneof is not None else ""
            plan[field.json_name] = (field.name, decoder, _is_repeated(field), oneof)

    def decode(value: Json) -> Message:
        if type(value) is not dict:
            raise _NotCovered
        kwargs: dict[str, Any] = {}
        chosen: set[str] = set()
        for key, item in value.items():
            entry = plan.get(key)
            if entry is None:
                raise _NotCovered
            name, convert, repeated, oneof = entry
            if oneof:
                if oneof in chosen:
                    raise _NotCovered  # two choices of one oneof: json_format's error
                chosen.add(oneof)
            if repeated:
                if type(item) is not list:
                    raise _NotCovered
                kwargs[name] = [convert(v) for v in item]
            else:
                kwargs[name] = convert(item)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:  # e.g. a lone surrogate in a string
            raise _NotCovered from exc

    return decode


def _message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


_CLIENT_KINDS = {
    field.json_name: (field.name, _message_decoder(_sub(field)))
    for field in ClientFrame.DESCRIPTOR.oneofs_by_name["kind"].fields
}
_REF = _integer_decoder(ClientFrame.DESCRIPTOR.fields_by_name["ref"])


def client_frame(parsed: dict[str, Json]) -> ClientFrame | None:
    """The ClientFrame json_format.ParseDict would make of `parsed`, or None where json_format
    must decide (and, for what it refuses, say why)."""
    kwargs: dict[str, Any] = {}
    try:
        for key, value in parsed.items():
            if key == "ref":
                kwargs["ref"] = _REF(value)
            elif key == "trace":
                if type(value) is not dict or any(type(v) is not str for v in value.values()):
                    return None
                kwargs["trace"] = value
            else:
                kind = _CLIENT_KINDS.get(key)
                if kind is None or kind[0] in kwargs:
                    return None
                kwargs[kind[0]] = kind[1](value)
    except _NotCovered:
        return None
    if sum(1 for k in kwargs if k not in ("ref", "trace")) > 1:
        return None  # two choices of the oneof: json_format's error says so
    try:
        return ClientFrame(**kwargs)
    except (ValueError, TypeError):
        return None
