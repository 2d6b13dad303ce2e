"""The load generator's pure pieces: hand-encoded frames, pacing, order/loss accounting."""

from __future__ import annotations

from bench.loadgen import (
    Pacer,
    SenderTrack,
    Stats,
    encode_send,
    latency_summary,
    parse_stamp,
    percentile,
    send_prefix,
    stamp,
)
from protos import client_pb2 as pb


def test_hand_encoded_send_is_what_protobuf_encodes() -> None:
    for ref, conversation_id, body in (
        (1, 7, b"t=1;n=0"),
        (300, 2**63 + 5, b"x" * 200),
        (2**40, 1, b"\xc3\xa9"),
    ):
        frame = encode_send(ref, send_prefix(conversation_id), b"42", body)
        expected = pb.ClientFrame(
            ref=ref,
            send=pb.SendMessage(conversation_id=conversation_id, client_msg_id="42", body=body.decode()),
        )
        assert frame == expected.SerializeToString()
        assert pb.ClientFrame.FromString(frame) == expected


def test_stamp_round_trips() -> None:
    assert parse_stamp(stamp(1_700_000_000_123_456_789, 17).decode()) == (1_700_000_000_123_456_789, 17)


def test_pacer_issues_each_send_when_due_once_and_catches_up_after_a_stall() -> None:
    pacer = Pacer(rate=1000.0, start_ns=1_000)
    assert list(pacer.due(0)) == []  # before the start
    assert list(pacer.due(1_000)) == [0]  # send 0 is due at the start, not one interval later
    assert list(pacer.due(1_999)) == []
    assert list(pacer.due(3_001_000)) == [1, 2, 3]
    stalled = pacer.due(10_001_000)  # the loop was late: everything due is issued now
    assert list(stalled) == list(range(4, 11))
    assert pacer.scheduled_ns(5) == 5_001_000  # stamped with when it was due


def test_a_windowed_pacer_issues_exactly_rate_times_seconds() -> None:
    for rate, seconds, expected in ((60.0, 1.0, 60), (2.5, 1.0, 3), (1000.0, 0.5, 500)):
        pacer = Pacer.for_window(rate, 0, seconds)
        assert len(pacer.due(int(seconds * 1e9))) == expected  # at the window's end
        assert len(pacer.due(10**12)) == 0  # and never more


def test_sender_track_counts_duplicates_and_reorderings() -> None:
    track = SenderTrack()
    for counter in (0, 1, 3, 2, 3, 4):
        track.record(counter)
    assert (track.duplicated, track.reordered) == (1, 1)
    assert track.seen == {0, 1, 2, 3, 4}


def test_percentiles_use_the_nearest_rank() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert percentile(ordered, 0.5) == 50.0
    assert percentile(ordered, 0.99) == 99.0
    assert percentile(ordered, 0.999) == 100.0
    assert percentile([], 0.5) == 0.0
    assert latency_summary([3.0, 1.0, 2.0])["max_ms"] == 3.0


def test_stats_merge_adds_counts_and_keeps_the_widest_window() -> None:
    a = Stats(sent=3, received=2, first_send_ns=10, last_receive_ns=50)
    a.latencies_ms.extend([1.0, 2.0])
    b = Stats(sent=4, received=4, lost=1, first_send_ns=5, last_receive_ns=40)
    b.latencies_ms.extend([3.0])
    a.merge(b)
    assert (a.sent, a.received, a.lost, a.first_send_ns, a.last_receive_ns) == (7, 6, 1, 5, 50)
    assert list(a.latencies_ms) == [1.0, 2.0, 3.0]
