"""A server newer than the SDK may send frame kinds it does not know: they are skipped."""

from __future__ import annotations

from google.protobuf import json_format

from protos import client_pb2 as pb
from sdk.client import ChatClient, ClientOptions

# ServerFrame field 1000 (a kind this SDK predates), ref 7: tag 1000<<3|2, then a 2-byte body.
UNKNOWN_KIND = b"\x08\x07" + b"\xc2\x3e\x02\x08\x01"


def offline_client() -> ChatClient:
    return ChatClient(
        "ws://unused",
        device_id="d",
        transport="ws",
        token="t",
        credentials=None,
        auth_mode="token",
        options=ClientOptions(),
    )


async def test_an_unknown_frame_kind_is_ignored_in_binary_and_json() -> None:
    client = offline_client()
    binary = pb.ServerFrame.FromString(UNKNOWN_KIND)
    assert (binary.ref, binary.WhichOneof("kind")) == (7, None)
    client._dispatch(binary)
    parsed = json_format.Parse(
        '{"ref": "8", "someFutureReply": {"cursors": []}}', pb.ServerFrame(), ignore_unknown_fields=True
    )
    client._dispatch(parsed)
    client._dispatch(pb.ServerFrame(pong=pb.Pong()))  # a known kind nobody waits for: also quiet
    assert client._events.empty()
