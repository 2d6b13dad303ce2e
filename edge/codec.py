"""ClientFrame/ServerFrame <-> wire bytes for the two WebSocket subprotocols.

`hubbub.v1.proto` carries binary protobuf; `hubbub.v1.json` (and no subprotocol) carries
the proto3 JSON mapping in text frames (edge/json_frames.py for the common frames, json_format
for the rest). Router frames arrive serialized: binary clients get those bytes as is, JSON
clients share one conversion per RouterItem.
"""

from __future__ import annotations

import re
from typing import Protocol

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from edge.json_frames import client_frame, server_frame_dict
from kernel.errors import BadFrame
from protos.client_pb2 import ClientFrame, ServerFrame

PROTO_SUBPROTOCOL = "hubbub.v1.proto"
JSON_SUBPROTOCOL = "hubbub.v1.json"
SUBPROTOCOLS = (PROTO_SUBPROTOCOL, JSON_SUBPROTOCOL)


class PushedFrame:
    """A ServerFrame the router serialized once, shared by all its recipients on this edge."""

    __slots__ = ("_json", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._json: bytes | None = None

    def frame(self) -> ServerFrame:
        return ServerFrame.FromString(self.data)

    def json(self) -> bytes:
        """UTF-8 JSON text, computed on first use and cached for the other recipients."""
        if self._json is None:
            self._json = encode_json(self.frame())
        return self._json


class UndecodableFrame(BadFrame):
    """A client payload that is not a ClientFrame. `ref` is the frame's ref when one could be
    read all the same (a JSON object with a valid `ref` and a bad field), so the BAD_FRAME
    answer can be matched to its request; 0 when none could."""

    def __init__(self, message: str, ref: int = 0) -> None:
        super().__init__(message)
        self.ref = ref


class Codec(Protocol):
    """How one connection turns frames into the payloads its transport sends."""

    @property
    def text(self) -> bool:
        """Whether payloads go out as WebSocket text frames."""
        ...

    def decode(self, data: bytes | str) -> ClientFrame: ...

    def encode(self, frame: ServerFrame) -> bytes: ...

    def encode_pushed(self, pushed: PushedFrame) -> bytes: ...


class ProtoCodec:
    text = False

    def decode(self, data: bytes | str) -> ClientFrame:
        if isinstance(data, str):
            raise BadFrame("expected a binary frame on a hubbub.v1.proto connection")
        try:
            return ClientFrame.FromString(data)
        except DecodeError as exc:
            raise BadFrame("not a protobuf ClientFrame") from exc

    def encode(self, frame: ServerFrame) -> bytes:
        return frame.SerializeToString()

    def encode_pushed(self, pushed: PushedFrame) -> bytes:
        return pushed.data


class JsonCodec:
    text = True

    def decode(self, data: bytes | str) -> ClientFrame:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise BadFrame("not JSON") from exc
        if not isinstance(parsed, dict):
            raise BadFrame("a frame is a JSON object")
        fast = client_frame(parsed)
        if fast is not None:
            return fast
        frame = ClientFrame()
        try:
            # Unknown fields are ignored, as binary protobuf does: newer clients keep working.
            json_format.ParseDict(parsed, frame, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            message = f"not a ClientFrame: {parse_problem(str(exc))}"
            raise UndecodableFrame(message, readable_ref(parsed)) from exc
        return frame

    def encode(self, frame: ServerFrame) -> bytes:
        return encode_json(frame)

    def encode_pushed(self, pushed: PushedFrame) -> bytes:
        return pushed.json()


def readable_ref(parsed: dict[str, object]) -> int:
    """The object's `ref` when it is a valid uint64 as the JSON mapping reads one (a number or
    a decimal string), else 0: parsed by protobuf's own rules, alone."""
    if "ref" not in parsed:
        return 0
    alone = ClientFrame()
    try:
        json_format.ParseDict({"ref": parsed["ref"]}, alone)
    except (json_format.ParseError, ValueError, TypeError):
        return 0
    return alone.ref


_ONEOF = re.compile(r'multiple "(\w+)" oneof fields at "(?:ClientFrame\.)?([\w.]*)"')
_FIELD = re.compile(r"Failed to parse (\w+) field")


def parse_problem(detail: str) -> str:
    """What protobuf's JSON parser refused, said for a client: the field (as JSON names it) and
    what is wrong with it, never the parser's own words (message types, Python exceptions)."""
    oneof = _ONEOF.search(detail)
    if oneof is not None:
        where = oneof.group(2) or "the frame"
        return f"{where} carries more than one choice of {oneof.group(1)}"
    path = ".".join(_FIELD.findall(detail)) or "a field"
    if "out of range" in detail:
        problem = "out of range"
    elif "int()" in detail or "for int" in detail:
        problem = "not an integer"
    elif "expected string" in detail:
        problem = "not a string"
    else:
        problem = "not a valid value"
    return f"{path} is {problem}"


def encode_json(frame: ServerFrame) -> bytes:
    """The proto3 JSON mapping; json_format only for frames the fast mapping does not cover."""
    fast = server_frame_dict(frame)
    return orjson.dumps(json_format.MessageToDict(frame) if fast is None else fast)


PROTO = ProtoCodec()
JSON = JsonCodec()


def codec_for(subprotocol: str | None) -> Codec:
    """The codec a negotiated subprotocol implies (none negotiated = JSON)."""
    return PROTO if subprotocol == PROTO_SUBPROTOCOL else JSON
