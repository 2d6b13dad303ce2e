"""The msgspec candidate of `hubbub bench codec`: structs written by hand for the hot frames
(camelCase names, 64-bit ints as strings, defaults omitted, enums by name), converted to and from
the protobuf objects the edge works on. A measurement only: the edge uses edge/json_frames.py.
"""

from __future__ import annotations

import msgspec

from protos import client_pb2 as pb


class SendJ(msgspec.Struct, rename="camel"):
    conversation_id: str | int = 0
    client_msg_id: str = ""
    content_type: str = ""
    body: str = ""


class ClientFrameJ(msgspec.Struct):
    ref: str | int = 0
    send: SendJ | None = None


class MessageJ(msgspec.Struct, rename="camel", omit_defaults=True):
    conversation_id: str = ""
    seq: str = ""
    message_id: str = ""
    sender_id: str = ""
    sender_device: str = ""
    client_msg_id: str = ""
    content_type: str = ""
    body: str = ""
    sent_at_ms: str = ""


class SentJ(msgspec.Struct, rename="camel", omit_defaults=True):
    conversation_id: str = ""
    seq: str = ""
    message_id: str = ""
    client_msg_id: str = ""
    sent_at_ms: str = ""
    duplicate: bool = False


class ReceiptJ(msgspec.Struct, rename="camel", omit_defaults=True):
    conversation_id: str = ""
    user_id: str = ""
    kind: str = ""
    up_to_seq: str = ""
    device_id: str = ""


class ServerFrameJ(msgspec.Struct, omit_defaults=True):
    ref: str = ""
    sent: SentJ | None = None
    message: MessageJ | None = None
    receipt: ReceiptJ | None = None


_DECODER = msgspec.json.Decoder(ClientFrameJ)
_ENCODER = msgspec.json.Encoder()
_RECEIPT_KINDS = {v.number: v.name for v in pb.ReceiptKind.DESCRIPTOR.values}


def _s(value: int) -> str:
    return str(value) if value else ""


def decode_send(text: bytes) -> pb.ClientFrame:
    parsed = _DECODER.decode(text)
    send = parsed.send
    assert send is not None
    return pb.ClientFrame(
        ref=int(parsed.ref),
        send=pb.SendMessage(
            conversation_id=int(send.conversation_id), client_msg_id=send.client_msg_id,
            content_type=send.content_type, body=send.body,
        ),
    )  # fmt: skip


def encode(frame: pb.ServerFrame) -> bytes:
    kind = frame.WhichOneof("kind")
    out = ServerFrameJ(ref=_s(frame.ref))
    if kind == "message":
        m = frame.message
        out.message = MessageJ(
            _s(m.conversation_id), _s(m.seq), _s(m.message_id), m.sender_id, m.sender_device,
            m.client_msg_id, m.content_type, m.body, _s(m.sent_at_ms),
        )  # fmt: skip
    elif kind == "sent":
        s = frame.sent
        out.sent = SentJ(
            _s(s.conversation_id), _s(s.seq), _s(s.message_id), s.client_msg_id, _s(s.sent_at_ms), s.duplicate
        )
    elif kind == "receipt":
        r = frame.receipt
        out.receipt = ReceiptJ(
            _s(r.conversation_id), r.user_id, _RECEIPT_KINDS.get(r.kind, "") if r.kind else "",
            _s(r.up_to_seq), r.device_id,
        )  # fmt: skip
    else:
        raise ValueError(f"not a hot frame: {kind}")
    return _ENCODER.encode(out)
