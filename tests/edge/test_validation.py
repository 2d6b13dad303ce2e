"""Range checks at the edge (edge/validation.py) through the sans-I/O session: every frame
kind carrying an id or a number is refused with INVALID_ARGUMENT, echoing its ref, when a
value is out of range, and forwarded untouched at the edges of the range."""

from __future__ import annotations

import pytest

from edge.actions import ToMessaging, ToRouter
from edge.validation import trim_trace
from kernel.limits import MAX_ID, MAX_RECEIPT_CURSORS, MAX_TRACEPARENT_CHARS, MAX_TRACESTATE_CHARS
from protos import client_pb2 as pb
from tests.edge.test_session import T0, error_of, open_session

TOO_BIG = MAX_ID + 1
MINUS_ONE = 2**64 - 1


def c(cid: int, seq: int = 1) -> pb.ConversationCursor:
    return pb.ConversationCursor(conversation_id=cid, seq=seq)


def frames(cid: int, seq: int) -> list[pb.ClientFrame]:
    """One frame per kind and field, with `cid` as its conversation and `seq` as its seq."""
    return [
        pb.ClientFrame(ref=9, send=pb.SendMessage(conversation_id=cid, client_msg_id="m", body="hi")),
        pb.ClientFrame(ref=9, delivered=pb.AckDelivered(cursors=[c(42), c(cid, seq)])),
        pb.ClientFrame(ref=9, read=pb.MarkRead(cursors=[c(cid, seq)])),
        pb.ClientFrame(ref=9, typing=pb.Typing(conversation_id=cid, active=True)),
        pb.ClientFrame(ref=9, update_group=pb.UpdateGroup(conversation_id=cid, rename="x")),
        pb.ClientFrame(ref=9, history=pb.FetchHistory(conversation_id=cid, anchor_seq=seq)),
        pb.ClientFrame(ref=9, read_by=pb.ReadBy(conversation_id=cid, seq=seq or 1)),
        pb.ClientFrame(ref=9, resume=pb.Resume(cursors=[c(cid, seq)])),
    ]


@pytest.mark.parametrize(("cid", "seq"), [(TOO_BIG, 1), (MINUS_ONE, 1), (42, TOO_BIG), (42, MINUS_ONE)])
def test_out_of_range_ids_and_seqs_are_refused_per_frame(cid: int, seq: int) -> None:
    session = open_session()
    for frame in frames(cid, seq):
        kind = frame.WhichOneof("kind")
        if kind in ("send", "typing", "update_group") and cid == 42:
            continue  # no seq in these
        error = error_of(session.receive(frame, T0))
        assert (error.code, error.fatal) == ("INVALID_ARGUMENT", False), kind
        assert "out of range" in error.message


def test_the_largest_ids_and_seqs_pass() -> None:
    session = open_session()
    for frame in frames(MAX_ID, MAX_ID):
        (action,) = session.receive(frame, T0)
        assert isinstance(action, ToRouter | ToMessaging), frame.WhichOneof("kind")


def test_zero_ids_and_empty_receipts_are_refused() -> None:
    session = open_session()
    for frame in [
        pb.ClientFrame(ref=3, read=pb.MarkRead()),
        pb.ClientFrame(ref=3, read_by=pb.ReadBy(conversation_id=42)),
        pb.ClientFrame(ref=3, resume=pb.Resume(cursors=[c(0)])),
        pb.ClientFrame(ref=3, list_conversations=pb.ListConversations(before_activity_ms=-1)),
    ]:
        assert error_of(session.receive(frame, T0)).code == "INVALID_ARGUMENT"


def test_receipt_cursors_are_capped_with_one_error() -> None:
    session = open_session()
    at_cap = [c(i + 1) for i in range(MAX_RECEIPT_CURSORS)]
    (forwarded,) = session.receive(pb.ClientFrame(ref=4, delivered=pb.AckDelivered(cursors=at_cap)), T0)
    assert isinstance(forwarded, ToRouter)
    over = [c(i + 1) for i in range(40_000)]
    error = error_of(session.receive(pb.ClientFrame(ref=5, read=pb.MarkRead(cursors=over)), T0))
    assert error.code == "INVALID_ARGUMENT"


def test_only_w3c_trace_keys_within_their_caps_are_kept() -> None:
    trace = {
        "traceparent": "0" * MAX_TRACEPARENT_CHARS,
        "tracestate": "s" * MAX_TRACESTATE_CHARS,
        "baggage": "b",
        "TraceParent": "x",
    }
    trim_trace(trace)
    assert trace == {"traceparent": "0" * MAX_TRACEPARENT_CHARS, "tracestate": "s" * MAX_TRACESTATE_CHARS}
    too_long = {
        "traceparent": "0" * (MAX_TRACEPARENT_CHARS + 1),
        "tracestate": "s" * (MAX_TRACESTATE_CHARS + 1),
    }
    trim_trace(too_long)
    assert too_long == {}
