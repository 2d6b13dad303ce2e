"""1:1 chat end to end: two users with two devices each, over real WebSockets."""

from __future__ import annotations

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient


async def two_devices(url: str, user_id: str) -> tuple[WireClient, WireClient]:
    first = await WireClient.sign_up(url, user_id, device_id=f"{user_id}-phone")
    second = await WireClient.with_token(url, first.welcome.token, device_id=f"{user_id}-laptop")
    return first, second


async def open_direct(client: WireClient, peer: str) -> int:
    reply = await client.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id=peer)))
    assert reply.WhichOneof("kind") == "conversation", reply
    return reply.conversation.conversation_id


async def test_every_device_gets_every_message_once_in_order(node: SingleNode) -> None:
    a1, a2 = await two_devices(node.ws_url, "alice")
    b1, b2 = await two_devices(node.ws_url, "bob")
    conv = await open_direct(a1, "bob")
    assert await open_direct(b2, "alice") == conv, "a pair has exactly one direct conversation"

    sent = [await a1.send_text(conv, f"hello {i}", f"a-{i}") for i in range(20)]
    assert [s.sent.seq for s in sent] == list(range(1, 21))
    reply = await b1.send_text(conv, "hi alice", "b-0")
    assert reply.sent.seq == 21

    for device in (a2, b2):
        got = await device.messages(21, conv)
        assert [m.seq for m in got] == list(range(1, 22))
        assert got[0].body == "hello 0" and got[0].sender_id == "alice"
    # bob's sending device got an ack for seq 21, not the message itself.
    assert [m.seq for m in await b1.messages(20, conv)] == list(range(1, 21))
    # The sending device gets its acks, not its own messages: the next message it sees is bob's.
    first_for_sender = await a1.messages(1, conv)
    assert first_for_sender[0].seq == 21 and first_for_sender[0].sender_id == "bob"

    # A marker proves nothing was delivered twice: it is the very next message everywhere.
    marker = await a1.send_text(conv, "marker", "a-marker")
    for device in (a2, b1, b2):
        (next_message,) = await device.messages(1, conv)
        assert next_message.seq == marker.sent.seq

    for c in (a1, a2, b1, b2):
        await c.close()


async def test_sender_devices_see_sent_then_delivered_then_read(node: SingleNode) -> None:
    a1, a2 = await two_devices(node.ws_url, "alice")
    b1, b2 = await two_devices(node.ws_url, "bob")
    conv = await open_direct(a1, "bob")
    ack = await a1.send_text(conv, "are you there?", "a-1")
    assert ack.WhichOneof("kind") == "sent" and ack.sent.seq == 1 and not ack.sent.duplicate
    (delivered_msg,) = await b1.messages(1, conv)

    cursor = [pb.ConversationCursor(conversation_id=conv, seq=delivered_msg.seq)]
    await b1.send_frame(pb.ClientFrame(delivered=pb.AckDelivered(cursors=cursor)))
    for device in (a1, a2):
        receipt = await device.next_push("receipt", lambda f: f.receipt.kind == pb.RECEIPT_KIND_DELIVERED)
        assert (receipt.receipt.user_id, receipt.receipt.up_to_seq) == ("bob", 1)

    await b1.send_frame(pb.ClientFrame(read=pb.MarkRead(cursors=cursor)))
    for device in (a1, a2):
        receipt = await device.next_push("receipt", lambda f: f.receipt.kind == pb.RECEIPT_KIND_READ)
        assert (receipt.receipt.user_id, receipt.receipt.up_to_seq) == ("bob", 1)
    # bob's other device learns that the conversation was read elsewhere (read state syncs).
    synced = await b2.next_push("receipt", lambda f: f.receipt.kind == pb.RECEIPT_KIND_READ)
    assert synced.receipt.user_id == "bob"

    listing = await b2.request(pb.ClientFrame(list_conversations=pb.ListConversations()))
    (row,) = listing.conversations.items
    assert row.unread == 0 and row.last_message.body == "are you there?"

    for c in (a1, a2, b1, b2):
        await c.close()


async def test_a_retry_is_acknowledged_with_the_original_and_stored_once(node: SingleNode) -> None:
    a1, _ = await two_devices(node.ws_url, "alice")
    b1, _ = await two_devices(node.ws_url, "bob")
    conv = await open_direct(a1, "bob")
    first = await a1.send_text(conv, "only once", "same-id")
    retry = await a1.send_text(conv, "only once", "same-id")
    assert retry.sent.duplicate and retry.sent.seq == first.sent.seq
    assert retry.sent.message_id == first.sent.message_id
    page = await b1.request(pb.ClientFrame(history=pb.FetchHistory(conversation_id=conv)))
    assert [m.client_msg_id for m in page.history.messages] == ["same-id"]
    for c in (a1, b1):
        await c.close()
