"""1:1 conversations driven through real Link streams, as two edges would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from protos import client_pb2
from router import RouterService
from tests.router.edge_client import FakeEdge, text_frame
from tests.router.fakes import FakeBackends

Connect = Callable[[str], Awaitable[FakeEdge]]
# session ids: alice-phone 1 (edge A), alice-laptop 2 (edge B), bob-phone 3 (A), bob-laptop 4 (B)
A_PHONE, A_LAPTOP, B_PHONE, B_LAPTOP = 1, 2, 3, 4


async def two_users_two_edges(edges: Connect) -> tuple[FakeEdge, FakeEdge]:
    edge_a = await edges("edge-a")
    edge_b = await edges("edge-b")
    edge_a.open(A_PHONE, "alice", "phone")
    edge_b.open(A_LAPTOP, "alice", "laptop")
    edge_a.open(B_PHONE, "bob", "phone")
    edge_b.open(B_LAPTOP, "bob", "laptop")
    # Direct peers watch each other: the opening snapshots prove both edges' opens were processed.
    await edge_a.registered(A_PHONE, B_PHONE)
    await edge_b.registered(A_LAPTOP, B_LAPTOP)
    return edge_a, edge_b


def seqs(frames: list[client_pb2.ServerFrame]) -> list[int]:
    return [f.message.seq for f in frames if f.HasField("message")]


async def test_every_other_device_gets_each_message_once_in_order(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"])
    edge_a, edge_b = await two_users_two_edges(edges)
    # 30 from alice's phone in one batch, then 10 from bob's laptop.
    edge_a.send_frames(A_PHONE, *(text_frame(cid, f"a{i}", f"hi {i}", ref=i + 1) for i in range(30)))
    sent = await edge_a.wait_kind(A_PHONE, "sent", 30)
    assert [f.sent.seq for f in sent] == list(range(1, 31))
    assert [f.ref for f in sent] == list(range(1, 31))
    assert not any(f.sent.duplicate for f in sent)
    edge_b.send_frames(B_LAPTOP, *(text_frame(cid, f"b{i}", f"yo {i}", ref=100 + i) for i in range(10)))
    await edge_b.wait_kind(B_LAPTOP, "sent", 10)

    for edge, session in ((edge_b, A_LAPTOP), (edge_a, B_PHONE)):
        received = await edge.wait_kind(session, "message", 40)
        assert seqs(received) == list(range(1, 41)), session
    # The sending device never gets its own message back; the other devices of the sender do.
    await edge_b.wait_kind(B_LAPTOP, "message", 30)
    assert seqs(edge_b.frames[B_LAPTOP]) == list(range(1, 31))
    await edge_a.wait_kind(A_PHONE, "message", 10)
    assert seqs(edge_a.frames[A_PHONE]) == list(range(31, 41))
    first = edge_b.of_kind(A_LAPTOP, "message")[0].message
    assert (first.sender_id, first.sender_device, first.body) == ("alice", "phone", "hi 0")
    # The 30 sends of one EdgeBatch were persisted together.
    assert fakes.world.append_sizes[0] == 30


async def test_one_item_per_edge_carries_all_its_target_sessions(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"])
    edge_a, edge_b = await two_users_two_edges(edges)
    edge_a.send_text(A_PHONE, cid, "m1", "hello", ref=1)
    await edge_b.wait_kind(A_LAPTOP, "message")
    await edge_b.wait_kind(B_LAPTOP, "message")
    message_items = [ids for ids, frame in edge_b.items if frame.HasField("message")]
    assert [sorted(ids) for ids in message_items] == [[A_LAPTOP, B_LAPTOP]]


async def test_a_retry_gets_a_duplicate_ack_and_no_second_delivery(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"])
    edge_a, edge_b = await two_users_two_edges(edges)
    edge_a.send_text(A_PHONE, cid, "same-id", "once", ref=1)
    first = await edge_a.wait_ref(A_PHONE, 1)
    edge_a.send_text(A_PHONE, cid, "same-id", "once", ref=2)
    retry = await edge_a.wait_ref(A_PHONE, 2)
    assert retry.sent.duplicate and not first.sent.duplicate
    assert (retry.sent.seq, retry.sent.message_id) == (first.sent.seq, first.sent.message_id)
    # A later message is the barrier: fan-out is in seq order, so a second copy would precede it.
    edge_a.send_text(A_PHONE, cid, "next-id", "twice?", ref=3)
    await edge_a.wait_ref(A_PHONE, 3)
    for edge, session in ((edge_a, B_PHONE), (edge_b, B_LAPTOP), (edge_b, A_LAPTOP)):
        await edge.wait_kind(session, "message", 2)
        assert seqs(edge.frames[session]) == [1, 2]


async def test_receipts_reach_the_senders_devices(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"])
    edge_a, edge_b = await two_users_two_edges(edges)
    edge_a.send_frames(A_PHONE, *(text_frame(cid, f"m{i}", "x", ref=i + 1) for i in range(3)))
    await edge_a.wait_kind(B_PHONE, "message", 3)
    cursor = [client_pb2.ConversationCursor(conversation_id=cid, seq=3)]
    edge_a.send_frames(B_PHONE, client_pb2.ClientFrame(delivered=client_pb2.AckDelivered(cursors=cursor)))
    for edge, session in ((edge_a, A_PHONE), (edge_b, A_LAPTOP), (edge_b, B_LAPTOP)):
        receipt = (await edge.wait_kind(session, "receipt"))[0].receipt
        assert (receipt.user_id, receipt.kind, receipt.up_to_seq, receipt.device_id) == (
            "bob",
            client_pb2.RECEIPT_KIND_DELIVERED,
            3,
            "phone",
        )
    edge_b.send_frames(B_LAPTOP, client_pb2.ClientFrame(read=client_pb2.MarkRead(cursors=cursor)))
    for edge, session, count in ((edge_a, A_PHONE, 2), (edge_b, A_LAPTOP, 2), (edge_a, B_PHONE, 1)):
        read = (await edge.wait_kind(session, "receipt", count))[-1].receipt
        assert (read.user_id, read.kind, read.up_to_seq, read.device_id) == (
            "bob",
            client_pb2.RECEIPT_KIND_READ,
            3,
            "laptop",
        )
    # The acking session never hears its own receipt.
    assert [f.receipt.kind for f in edge_a.of_kind(B_PHONE, "receipt")] == [client_pb2.RECEIPT_KIND_READ]
    assert [f.receipt.kind for f in edge_b.of_kind(B_LAPTOP, "receipt")] == [
        client_pb2.RECEIPT_KIND_DELIVERED
    ]
    assert fakes.world.cursors[("bob", cid)] == [3, 3]


async def test_many_cursors_in_one_tick_make_one_update_call(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cids = [
        fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", f"p{i}"])
        for i in range(5)
    ]
    fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_DIRECT, ["alice", "bob"])
    edge_a, _ = await two_users_two_edges(edges)
    for cid in cids:
        edge_a.send_text(A_PHONE, cid, f"m{cid}", "x")
    await edge_a.wait_kind(A_PHONE, "sent", 5)
    cursors = [client_pb2.ConversationCursor(conversation_id=cid, seq=1) for cid in cids]
    edge_a.send_frames(
        A_PHONE,
        client_pb2.ClientFrame(read=client_pb2.MarkRead(cursors=cursors)),
        client_pb2.ClientFrame(
            ref=9,
            read=client_pb2.MarkRead(cursors=[client_pb2.ConversationCursor(conversation_id=999, seq=1)]),
        ),
    )
    error = await edge_a.wait_ref(A_PHONE, 9)
    assert error.error.code == "NOT_MEMBER"
    assert fakes.world.cursor_calls == [6]
