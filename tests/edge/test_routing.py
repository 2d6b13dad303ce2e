"""Which router gets which frame (by the partition map), and the reconnect backoff."""

from __future__ import annotations

from edge.routing import route_frame
from kernel.ownership import Owner, PartitionMap, static_map
from kernel.partitions import partition_of, user_partition
from protos import client_pb2 as pb

P = 16


def two_router_map() -> PartitionMap:
    return static_map(P, ("a:1", "b:2"))


def test_a_single_router_gets_everything_unchanged() -> None:
    frame = pb.ClientFrame(send=pb.SendMessage(conversation_id=5))
    assert route_frame(frame, "alice", static_map(P, ("a:1",))) == [("a:1", frame)]


def test_conversation_frames_go_to_the_owner_of_their_partition() -> None:
    partition_map = two_router_map()
    for conversation in range(1, 40):
        owner = partition_map.owners[partition_of(conversation, P)]
        assert owner is not None
        for frame in (
            pb.ClientFrame(send=pb.SendMessage(conversation_id=conversation)),
            pb.ClientFrame(typing=pb.Typing(conversation_id=conversation)),
        ):
            assert route_frame(frame, "alice", partition_map) == [(owner.target, frame)]


def test_receipts_split_per_owner() -> None:
    partition_map = two_router_map()
    frame = pb.ClientFrame(ref=3)
    conversations = list(range(1, 12))
    for conv in conversations:
        frame.read.cursors.add(conversation_id=conv, seq=conv)
    parts = route_frame(frame, "alice", partition_map)
    assert len(parts) == 2 and all(f.ref == 3 for _, f in parts)
    for target, part in parts:
        for cursor in part.read.cursors:
            owner = partition_map.owners[partition_of(cursor.conversation_id, P)]
            assert owner is not None and owner.target == target
    assert sorted(c.conversation_id for _, f in parts for c in f.read.cursors) == conversations


def test_conversationless_frames_go_by_the_user_partition() -> None:
    partition_map = two_router_map()
    frame = pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob"))
    owner = partition_map.owners[user_partition("alice", P)]
    assert owner is not None
    assert route_frame(frame, "alice", partition_map) == [(owner.target, frame)]


def test_an_unowned_partition_routes_to_none() -> None:
    partition_map = two_router_map()
    conversation = 7
    partition_map = partition_map.with_owner(partition_of(conversation, P), None)
    frame = pb.ClientFrame(send=pb.SendMessage(conversation_id=conversation))
    assert route_frame(frame, "alice", partition_map) == [(None, frame)]
    moved = partition_map.with_owner(partition_of(conversation, P), Owner("r9", "c:3", 2))
    assert route_frame(frame, "alice", moved) == [("c:3", frame)]
