"""Which router gets which frame, and the reconnect backoff."""

from __future__ import annotations

import random

from edge.routing import backoff_delay, pick_router, route_frame
from protos import client_pb2 as pb


def test_pick_router_is_conversation_modulo_n() -> None:
    assert [pick_router(c, 3) for c in (0, 1, 2, 3, 7)] == [0, 1, 2, 0, 1]


def test_single_router_gets_everything_unchanged() -> None:
    frame = pb.ClientFrame(send=pb.SendMessage(conversation_id=5))
    assert route_frame(frame, "alice", 1) == [(0, frame)]


def test_receipts_split_per_router() -> None:
    frame = pb.ClientFrame(ref=3)
    for conv in (1, 2, 4):
        frame.read.cursors.add(conversation_id=conv, seq=conv)
    parts = route_frame(frame, "alice", 2)
    assert [(i, [c.conversation_id for c in f.read.cursors]) for i, f in parts] == [(0, [2, 4]), (1, [1])]
    assert all(f.ref == 3 for _, f in parts)


def test_conversationless_frames_stick_to_the_user() -> None:
    frame = pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob"))
    first = route_frame(frame, "alice", 4)
    assert first == route_frame(frame, "alice", 4) and len(first) == 1


def test_backoff_is_full_jitter_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, rng) for attempt in range(40)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert all(backoff_delay(0, rng) <= 0.05 for _ in range(100))
