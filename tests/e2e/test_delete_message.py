"""Deleting a message for everyone, end to end on a real node: an online member sees it live,
an offline one on resume, history keeps the seq with nothing in it, the attachment's object
is gone (its download URL answers 404), and refusals carry stable codes on a live connection."""

from __future__ import annotations

import asyncio

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from router import MemoryPushNotifier
from tests.e2e.test_big_replies import resume_frames
from tests.e2e.test_media import downloads, send_media, upload_photo
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import TIMEOUT_S, WireClient
from tests.media.test_blob_server import http


def delete(conv: int, seq: int) -> pb.ClientFrame:
    return pb.ClientFrame(delete_message=pb.DeleteMessage(conversation_id=conv, seq=seq))


async def test_a_deleted_photo_is_gone_live_on_resume_and_from_the_blob_store(node: SingleNode) -> None:
    """On a cluster too: there the object is removed by messaging (or the router that wrote the
    deletion) through the blob server's internal delete (media/internal_delete.py)."""
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    bob_laptop = await WireClient.with_token(node.ws_url, bob.welcome.token, "laptop")
    await (await WireClient.sign_up(node.ws_url, "carol")).close()  # offline throughout
    created = await alice.request(
        pb.ClientFrame(create_group=pb.CreateGroup(title="t", member_ids=["bob", "carol"]))
    )
    conv = created.conversation.conversation_id
    media = await upload_photo(alice, conv)
    photo = await alice.request(send_media(conv, media, "photo-1"))
    assert photo.WhichOneof("kind") == "sent", photo
    assert (await alice.send_text(conv, "after the photo", "text-2")).sent.seq == 2
    await bob.messages(2, conv)
    await bob_laptop.messages(2, conv)
    url = (await downloads(bob, conv, media.key)).download_urls.urls[0].url  # handed out before
    await bob_laptop.close()  # offline while the photo is deleted

    answer = await alice.request(delete(conv, photo.sent.seq))
    assert answer.WhichOneof("kind") == "message_deleted", answer
    entry = answer.message_deleted
    assert (entry.conversation_id, entry.seq, entry.deletes_seq, entry.sender_id) == (conv, 3, 1, "alice")

    live = await bob.next_push("message_deleted")
    assert live.message_deleted == entry
    assert (await http("GET", url))[0] == 404  # the object is removed, not only unlisted

    history = await bob.request(pb.ClientFrame(history=pb.FetchHistory(conversation_id=conv)))
    shown = [(m.seq, m.deleted, m.body, m.HasField("media"), m.deletes_seq) for m in history.history.messages]
    assert shown == [
        (1, True, "", False, 0),
        (2, False, "after the photo", False, 0),
        (3, False, "", False, 1),
    ]

    laptop = await WireClient.with_token(node.ws_url, bob.welcome.token, "laptop")
    frames = await resume_frames(laptop, [pb.ConversationCursor(conversation_id=conv, seq=2)])
    (page,) = [f.history for f in frames if f.WhichOneof("kind") == "history"]
    assert [(m.seq, m.deletes_seq) for m in page.messages] == [(3, 1)]

    again = await alice.request(delete(conv, 1))  # idempotent: the same entry, nothing new stored
    assert again.message_deleted == entry
    listed = await bob.request(pb.ClientFrame(list_conversations=pb.ListConversations()))
    assert listed.conversations.items[0].conversation.last_seq == 3  # deleting twice stored one
    for client in (alice, bob, laptop):
        await client.close()


async def test_a_deletion_sends_no_offline_push(node: SingleNode, push: MemoryPushNotifier) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    for offline in ("carol", "dave"):  # offline throughout: members reached by push
        await (await WireClient.sign_up(node.ws_url, offline)).close()
    created = await alice.request(
        pb.ClientFrame(create_group=pb.CreateGroup(title="t", member_ids=["carol"]))
    )
    conv = created.conversation.conversation_id
    assert (await alice.send_text(conv, "regrettable", "r-1")).sent.seq == 1
    # dave joins now: the deletion would be his first push of this conversation (none collapsed)
    add = pb.UpdateGroup(conversation_id=conv, add_members=pb.MemberList(user_ids=["dave"]))
    assert (await alice.request(pb.ClientFrame(update_group=add))).WhichOneof("kind") == "conversation"
    assert (await alice.request(delete(conv, 1))).WhichOneof("kind") == "message_deleted"
    # A push after the deletion, in another conversation: pushes go in order, so dave's push
    # of the deletion, had there been one, is in by now.
    direct = await open_direct(alice, "dave")
    assert (await alice.send_text(direct, "hi dave", "dave-1")).WhichOneof("kind") == "sent"
    async with asyncio.timeout(TIMEOUT_S):
        seen = await push.wait_for(1)
        while not any(n.conversation_id == direct for n in seen):
            seen = await push.wait_for(len(seen) + 1)
    assert [(n.user_id, n.seq) for n in push.notifications if n.conversation_id == conv] == [("carol", 1)]
    await alice.close()


async def test_deleting_what_is_not_yours_is_refused_and_the_connection_lives(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    carol = await WireClient.sign_up(node.ws_url, "carol")
    conv = await open_direct(alice, "bob")
    assert (await alice.send_text(conv, "mine", "m-1")).sent.seq == 1

    assert (await bob.request(delete(conv, 1))).error.code == "PERMISSION_DENIED"
    assert (await carol.request(delete(conv, 1))).error.code == "NOT_MEMBER"
    assert (await alice.request(delete(conv, 7))).error.code == "NOT_FOUND"
    assert (await alice.request(delete(conv, 0))).error.code == "INVALID_ARGUMENT"
    entry = (await alice.request(delete(conv, 1))).message_deleted
    assert (await alice.request(delete(conv, entry.seq))).error.code == "INVALID_ARGUMENT"
    reserved = pb.ClientFrame(send=pb.SendMessage(conversation_id=conv, client_msg_id="hubbub:x", body="hi"))
    assert (await alice.request(reserved)).error.code == "INVALID_ARGUMENT"
    assert (await bob.send_text(conv, "still here", "b-1")).sent.seq == 3  # connections live
    for client in (alice, bob, carol):
        await client.close()


async def test_a_deletion_reaches_an_online_member_live_and_an_offline_device_on_resume(
    node: SingleNode,
) -> None:
    """Text only (so it runs on a cluster too, where the router and messaging are processes of
    their own and the deletion travels the Append rpc)."""
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    conv = await open_direct(alice, "bob")
    assert (await alice.send_text(conv, "regrettable", "r-1")).sent.seq == 1
    await bob.messages(1, conv)
    token = bob.welcome.token
    await bob.close()  # bob's phone goes offline
    tablet = await WireClient.with_token(node.ws_url, token, "tablet")

    entry = (await alice.request(delete(conv, 1))).message_deleted
    assert (entry.seq, entry.deletes_seq) == (2, 1)
    assert (await tablet.next_push("message_deleted")).message_deleted == entry

    phone = await WireClient.with_token(node.ws_url, token, "d1")
    frames = await resume_frames(phone, [pb.ConversationCursor(conversation_id=conv, seq=1)])
    (page,) = [f.history for f in frames if f.WhichOneof("kind") == "history"]
    assert [(m.seq, m.deletes_seq) for m in page.messages] == [(2, 1)]
    before = await phone.request(pb.ClientFrame(history=pb.FetchHistory(conversation_id=conv)))
    assert [(m.seq, m.deleted, m.body) for m in before.history.messages] == [(1, True, ""), (2, False, "")]
    for client in (alice, tablet, phone):
        await client.close()
