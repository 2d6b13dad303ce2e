"""The generator's hot path counts what a full parse counts: random server frames (pushed
messages with duplicates, reorderings and stragglers among acks, errors and other kinds, over
binary and JSON) go through the lean read and the worker's bitsets, and the same frames are
counted again from protobuf's and json_format's full parse with plain sets."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.engine_plan import Plan, group
from bench.engine_worker import Worker, pause_s
from bench.loadgen import Pacer, RawUser, SenderTrack, stamp
from edge.codec import encode_json
from protos import client_pb2 as pb

STEP = 3
STEP_START_NS = 1_000
RECEIVER = "g-m0"
SENDERS = [f"g-m{k}" for k in range(1, 4)]


def pushed(sender: int, counter: int, at_ns: int, seq: int, conversation: int, ref: int) -> pb.ServerFrame:
    return pb.ServerFrame(
        ref=ref,
        trace={"traceparent": "00-1-2-01"} if seq % 3 == 0 else {},
        message=pb.Message(
            conversation_id=conversation,
            seq=seq,
            message_id=2**62 + seq,
            sender_id=SENDERS[sender],
            sender_device="bench",
            client_msg_id=f"{STEP}.{counter}",
            content_type="text/plain" if seq % 2 else "",
            body=stamp(at_ns, counter).decode(),
            sent_at_ms=1_764_613_331_123,
        ),
    )


FRAMES = st.one_of(
    st.builds(
        pushed,
        st.integers(0, len(SENDERS) - 1),
        st.integers(0, 40),
        st.integers(0, 2 * STEP_START_NS),  # some are stragglers of an earlier step
        st.integers(1, 2**40),
        st.sampled_from([7, 2**63 + 1]),
        st.just(0),
    ),
    st.builds(
        lambda step, n, seq: pb.ServerFrame(
            ref=n + 1, sent=pb.Sent(conversation_id=7, seq=seq, client_msg_id=f"{step}.{n}")
        ),
        st.sampled_from([STEP - 1, STEP]),
        st.integers(0, 40),
        st.integers(1, 2**40),
    ),
    st.builds(
        lambda code, ref: pb.ServerFrame(ref=ref, error=pb.Error(code=code, message="no")),
        st.sampled_from(["RATE_LIMITED", "INVALID_ARGUMENT"]),
        st.integers(0, 9),
    ),
    st.builds(
        lambda seq: pb.ServerFrame(
            receipt=pb.Receipt(
                conversation_id=7, user_id="g-m2", up_to_seq=seq, kind=pb.RECEIPT_KIND_DELIVERED
            )
        ),
        st.integers(1, 99),
    ),
    st.builds(lambda: pb.ServerFrame(typing=pb.TypingEvent(conversation_id=7, user_id="g-m1"))),
    st.builds(lambda ref: pb.ServerFrame(ref=ref, pong=pb.Pong()), st.integers(1, 9)),
)


@dataclass
class FullCount:
    """The reference: each frame parsed in full, each (receiver, sender) counted with sets."""

    tracks: dict[str, SenderTrack] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)
    received: int = 0
    errors: int = 0
    latencies: int = 0
    seen_seq: dict[int, int] = field(default_factory=dict)

    def count(self, frame: pb.ServerFrame) -> None:
        kind = frame.WhichOneof("kind")
        if kind == "message" and not frame.ref:
            message = frame.message
            self.seen_seq[message.conversation_id] = max(
                message.seq, self.seen_seq.get(message.conversation_id, 0)
            )
            t_part, n_part = message.body.split(";")
            sent_ns, counter = int(t_part.removeprefix("t=")), int(n_part.removeprefix("n="))
            if sent_ns < STEP_START_NS:
                return
            track = self.tracks.setdefault(message.sender_id, SenderTrack())
            before = track.duplicated
            track.record(counter)
            if track.duplicated == before:
                self.received += 1
        elif kind == "sent":
            step, number = frame.sent.client_msg_id.split(".")
            if int(step) == STEP:
                self.acked.add(int(number))
        elif kind == "error":
            self.errors += 1


def full_parse(data: bytes, json: bool) -> pb.ServerFrame:
    if json:
        return json_format.Parse(data, pb.ServerFrame(), ignore_unknown_fields=True)
    return pb.ServerFrame.FromString(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(FRAMES, max_size=60), st.booleans())
def test_the_lean_read_counts_what_a_full_parse_counts(frames: list[pb.ServerFrame], json: bool) -> None:
    worker = Worker(Plan("ws://unused", (group("g", 4, 4),), json=json), 0, 1, [0, 0])  # type: ignore[arg-type]
    worker.step_no, worker.step_start_ns = STEP, STEP_START_NS
    user = RawUser(RECEIVER, json=json)
    user.on_frame, user.on_message = worker._on_frame, worker._on_message
    reference = FullCount()
    for frame in frames:
        data = encode_json(frame) if json else frame.SerializeToString()
        user._on_data(data)
        reference.count(full_parse(data, json))
    record = worker.record
    assert record.received == reference.received
    assert record.duplicated == sum(t.duplicated for t in reference.tracks.values())
    assert record.reordered == sum(t.reordered for t in reference.tracks.values())
    assert record.seen == {
        (RECEIVER, sender): sum(1 << c for c in track.seen) for sender, track in reference.tracks.items()
    }
    assert len(record.latencies_ms) == reference.received
    assert record.acked == ({RECEIVER: sum(1 << n for n in reference.acked)} if reference.acked else {})
    assert record.errors == reference.errors
    assert user.seen_seq == reference.seen_seq


def test_duplicates_reorderings_and_stragglers_are_told_apart() -> None:
    worker = Worker(Plan("ws://unused", (group("g", 2, 2),)), 0, 1, [0, 0])  # type: ignore[arg-type]
    worker.step_start_ns = STEP_START_NS
    user = RawUser(RECEIVER)
    user.on_message = worker._on_message
    for counter, at_ns in ((0, 1_000), (2, 1_001), (1, 1_002), (2, 1_003), (5, 999)):
        frame = pushed(0, counter, at_ns, seq=counter + 1, conversation=7, ref=0)
        user._on_data(frame.SerializeToString())
    record = worker.record
    assert (record.received, record.duplicated, record.reordered) == (3, 1, 1)  # 5 is a straggler
    assert record.seen == {(RECEIVER, SENDERS[0]): 0b111}
    assert user.seen_seq == {7: 6}  # a straggler is still acked: the client holds it


def test_the_send_loop_sleeps_until_the_next_send_is_due_but_at_least_a_tick() -> None:
    assert pause_s(next_due_ns=1_500_000_000, end_ns=9_000_000_000, now_ns=1_000_000_000) == 0.5
    assert pause_s(next_due_ns=1_000_100_000, end_ns=9_000_000_000, now_ns=1_000_000_000) == 0.001
    assert pause_s(next_due_ns=None, end_ns=3_000_000_000, now_ns=1_000_000_000) == 2.0
    assert pause_s(next_due_ns=5_000_000_000, end_ns=2_000_000_000, now_ns=1_000_000_000) == 1.0


def test_the_pacer_says_when_its_next_send_is_due() -> None:
    pacer = Pacer.for_window(10.0, start_ns=0, seconds=0.3)
    assert pacer.next_due_ns() == 0
    assert list(pacer.due(150_000_000)) == [0, 1]
    assert pacer.next_due_ns() == 200_000_000
    assert list(pacer.due(10**12)) == [2]
    assert pacer.next_due_ns() is None
