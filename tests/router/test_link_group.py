"""Groups through real Link streams: a 500-member group with 50 online sessions over several
edges, offline members reaching push, group receipts, and group events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from protos import client_pb2
from router import RouterService
from tests.router.conftest import memory_push
from tests.router.edge_client import FakeEdge, text_frame
from tests.router.fakes import FakeBackends

Connect = Callable[[str], Awaitable[FakeEdge]]


async def test_500_members_50_online_each_session_gets_each_message_once_in_order(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    members = [f"u{i:03d}" for i in range(500)]
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, members, "big")
    for user in members[:50]:
        fakes.world.contacts[user] = {"buddy"}  # so each open gets an observable presence snapshot
    fleet = [await edges(f"edge-{n}") for n in range(5)]
    online: list[tuple[FakeEdge, int, str]] = []
    for i in range(50):
        edge = fleet[i % 5]
        session_id = 1000 + i
        edge.open(session_id, members[i], "d")
        online.append((edge, session_id, members[i]))
    for edge, session_id, _ in online:
        await edge.registered(session_id)  # every edge's opens were processed before any send
    # Three senders (all online), interleaved, 20 messages in all.
    senders = online[:3]
    for k in range(20):
        edge, session_id, _ = senders[k % 3]
        edge.send_frames(session_id, text_frame(cid, f"g{k}", f"message {k} " + "x" * 150, ref=k + 1))
    for index, (edge, session_id, _) in enumerate(senders):
        await edge.wait_kind(session_id, "sent", len(range(index, 20, 3)))

    own = {
        session_id: {k for k in range(20) if senders[k % 3][1] == session_id} for _, session_id, _ in senders
    }
    for edge, session_id, user in online:
        expected = 20 - len(own.get(session_id, set()))
        frames = await edge.wait_kind(session_id, "message", expected)
        seqs = [f.message.seq for f in frames]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == expected, user
    # 450 offline members get one push each for the conversation (the first message; the
    # other 19 are collapsed within the window), previews cut at 100 chars.
    push = memory_push(router)
    notes = await push.wait_for(450)
    assert len(notes) == 450
    assert {(n.user_id, n.seq) for n in notes} == {(u, 1) for u in members[50:]}
    assert all(len(n.preview) == 100 and n.preview.startswith("message ") for n in notes)
    assert router.core.ctx.push.collapsed == 450 * 19
    # Sends from different sessions in one tick share Append calls; members were fetched once.
    assert sum(fakes.world.append_sizes) == 20
    assert fakes.world.get_members_calls == 1


async def test_group_read_receipts_go_to_the_sender_not_to_everyone(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    cid = fakes.world.add_conversation(client_pb2.CONVERSATION_KIND_GROUP, ["ann", "ben", "cat", "dan"])
    edge = await edges("edge-1")
    for session_id, (user, device) in enumerate(
        [("ann", "p"), ("ben", "p"), ("cat", "p"), ("cat", "tablet"), ("dan", "p")], start=1
    ):
        edge.open(session_id, user, device)
    edge.send_text(1, cid, "hello", "hi all", ref=1)
    await edge.wait_kind(3, "message")
    edge.send_frames(
        3,
        client_pb2.ClientFrame(
            read=client_pb2.MarkRead(cursors=[client_pb2.ConversationCursor(conversation_id=cid, seq=1)])
        ),
    )
    receipt = (await edge.wait_kind(1, "receipt"))[0].receipt
    assert (receipt.user_id, receipt.kind, receipt.up_to_seq) == ("cat", client_pb2.RECEIPT_KIND_READ, 1)
    receipt_items = [sorted(ids) for ids, frame in edge.items if frame.HasField("receipt")]
    assert receipt_items == [[1, 4]]  # ann (the sender) and cat's tablet; not ben, dan, nor cat's phone


async def test_group_events_reach_every_member_including_the_removed_one(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    edge = await edges("edge-1")
    for session_id, (user, device) in enumerate(
        [("ann", "p"), ("ann", "laptop"), ("ben", "p"), ("cat", "p")], start=1
    ):
        edge.open(session_id, user, device)
    edge.send_frames(
        1,
        client_pb2.ClientFrame(
            ref=5, create_group=client_pb2.CreateGroup(title="t", member_ids=["ben", "cat"])
        ),
    )
    created = await edge.wait_ref(1, 5)
    cid = created.conversation.conversation_id
    assert {m.user_id for m in created.conversation.members} == {"ann", "ben", "cat"}
    for session_id in (2, 3, 4):
        event = (await edge.wait_kind(session_id, "conversation_event"))[0].conversation_event
        assert event.kind == client_pb2.CONVERSATION_EVENT_KIND_CREATED and event.actor_id == "ann"
    assert edge.of_kind(1, "conversation_event") == []  # the requester got the reply instead

    edge.send_text(1, cid, "before", "still here?", ref=6)
    await edge.wait_kind(4, "message")
    edge.send_frames(
        1,
        client_pb2.ClientFrame(
            ref=7, update_group=client_pb2.UpdateGroup(conversation_id=cid, remove_member="cat")
        ),
    )
    reply = await edge.wait_ref(1, 7)
    assert {m.user_id for m in reply.conversation.members} == {"ann", "ben"}
    removed = (await edge.wait_kind(4, "conversation_event", 2))[1].conversation_event
    assert removed.kind == client_pb2.CONVERSATION_EVENT_KIND_MEMBER_REMOVED
    assert list(removed.user_ids) == ["cat"]
    # The member cache was invalidated: the next message skips cat.
    edge.send_text(1, cid, "after", "cat is gone", ref=8)
    await edge.wait_kind(3, "message", 2)
    message_items = [sorted(ids) for ids, frame in edge.items if frame.HasField("message")]
    assert message_items[-1] == [2, 3]
    assert [f.message.client_msg_id for f in edge.of_kind(4, "message")] == ["before"]


async def test_open_direct_replies_and_announces_to_the_peer(
    fakes: FakeBackends, router: RouterService, edges: Connect
) -> None:
    edge = await edges("edge-1")
    edge.open(1, "ann", "p")
    edge.open(2, "ben", "p")
    edge.send_frames(1, client_pb2.ClientFrame(ref=3, open_direct=client_pb2.OpenDirect(peer_id="ben")))
    reply = await edge.wait_ref(1, 3)
    assert reply.conversation.kind == client_pb2.CONVERSATION_KIND_DIRECT
    event = (await edge.wait_kind(2, "conversation_event"))[0].conversation_event
    assert event.conversation.conversation_id == reply.conversation.conversation_id
