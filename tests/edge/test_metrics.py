"""The kind of a router's frame, read from its first bytes for the frames-out counter."""

from __future__ import annotations

from edge.metrics import routed_kind
from protos import client_pb2 as pb


def test_the_kind_is_read_past_the_ref_and_the_trace() -> None:
    traced = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    frames = [
        pb.ServerFrame(message=pb.Message(conversation_id=1, seq=1, body="x")),
        pb.ServerFrame(ref=300, trace=traced, sent=pb.Sent(conversation_id=1, seq=2)),
        pb.ServerFrame(ref=1, error=pb.Error(code="NOT_MEMBER")),
        pb.ServerFrame(trace=traced, receipt=pb.Receipt(conversation_id=1)),
    ]
    kinds = [routed_kind(frame.SerializeToString()) for frame in frames]
    assert kinds == [frame.WhichOneof("kind") for frame in frames]
    assert routed_kind(pb.ServerFrame(ref=5).SerializeToString()) == "none"
