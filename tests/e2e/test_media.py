"""Attachments end to end on a real node: upload through a signed URL straight to the blob
server, a message pointing to the object, its recipient's signed download; and refusals."""

from __future__ import annotations

import orjson

from deploy.single_node import SingleNode
from protos import client_pb2 as pb
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import WireClient
from tests.media.test_blob_server import PNG, http

PHOTO = pb.MediaRef(content_type="image/png", size_bytes=len(PNG), width=16, height=9, blurhash="LEHV6n")


async def upload_photo(client: WireClient, conv: int) -> pb.MediaRef:
    asked = pb.RequestUpload(conversation_id=conv, content_type="image/png", size_bytes=len(PNG))
    reply = await client.request(pb.ClientFrame(request_upload=asked))
    assert reply.WhichOneof("kind") == "upload_url", reply
    status, body = await http("PUT", reply.upload_url.url, PNG, {"Content-Type": "image/png"})
    assert status == 201, body
    ref = pb.MediaRef()
    ref.CopyFrom(PHOTO)
    ref.key, ref.receipt = reply.upload_url.key, orjson.loads(body)["receipt"]
    return ref


def send_media(conv: int, media: pb.MediaRef, cmid: str) -> pb.ClientFrame:
    return pb.ClientFrame(send=pb.SendMessage(conversation_id=conv, client_msg_id=cmid, media=media))


async def downloads(client: WireClient, conv: int, *keys: str) -> pb.ServerFrame:
    asked = pb.RequestDownloads(conversation_id=conv, keys=list(keys))
    return await client.request(pb.ClientFrame(request_downloads=asked))


async def test_a_photo_goes_by_signed_urls_and_its_message_points_to_it(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    conv = await open_direct(alice, "bob")
    media = await upload_photo(alice, conv)
    ack = await alice.request(send_media(conv, media, "photo-1"))
    assert ack.WhichOneof("kind") == "sent", ack

    (got,) = await bob.messages(1, conv)
    assert got.media == media and got.body == ""
    reply = await downloads(bob, conv, got.media.key)
    assert reply.WhichOneof("kind") == "download_urls", reply
    assert await http("GET", reply.download_urls.urls[0].url) == (200, PNG)

    history = await bob.request(pb.ClientFrame(history=pb.FetchHistory(conversation_id=conv)))
    assert [m.media.key for m in history.history.messages] == [media.key]  # stored, not only pushed
    for client in (alice, bob):
        await client.close()


async def test_media_refusals_carry_stable_codes_and_the_connection_lives(node: SingleNode) -> None:
    alice = await WireClient.sign_up(node.ws_url, "alice")
    bob = await WireClient.sign_up(node.ws_url, "bob")
    carol = await WireClient.sign_up(node.ws_url, "carol")
    conv = await open_direct(alice, "bob")
    media = await upload_photo(alice, conv)

    never = pb.MediaRef()
    never.CopyFrom(media)
    never.receipt = ""
    assert (await alice.request(send_media(conv, never, "x-1"))).error.code == "NOT_FOUND"
    # bob may see alice's photo but not send it as his own
    assert (await bob.request(send_media(conv, media, "x-2"))).error.code == "PERMISSION_DENIED"
    # carol is not in the conversation: no download URL for her, whatever key she knows
    assert (await downloads(carol, conv, media.key)).error.code == "NOT_MEMBER"
    wrong = pb.RequestUpload(conversation_id=conv, content_type="text/html", size_bytes=10)
    assert (await alice.request(pb.ClientFrame(request_upload=wrong))).error.code == "INVALID_ARGUMENT"
    assert (await alice.request(send_media(conv, media, "x-3"))).WhichOneof("kind") == "sent"
    for client in (alice, bob, carol):
        await client.close()
