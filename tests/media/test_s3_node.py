"""A whole node with its attachments in S3 (moto's server, HUBBUB_MEDIA_BACKEND=s3): a photo
goes up by a presigned PUT, is confirmed into a receipt, sent, and read back by its recipient
through a presigned GET (by the wire protocol, and by the SDK); then the sweep, reading the
node's real history, removes only the upload that no message points to."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from deploy.local_servers.moto_s3 import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY, S3Server
from deploy.single_node import SingleNode, start_single_node
from kernel.clock import SystemClock
from kernel.grpc_server import internal_channel
from media.references import HistoryReferences
from media.s3_store import S3BlobStore
from media.sweep import sweep_once
from protos import client_pb2 as pb
from protos.messaging_pb2_grpc import MessagingStub
from sdk import media_transfer
from tests.e2e.conftest import config_for_tests
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import WireClient
from tests.media.test_blob_server import PNG
from tests.sdk.test_client_e2e import messages, sign_up, unique

GRACE_S = 3_600.0


@pytest.fixture
async def s3_node(
    tmp_path: Path, moto_s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SingleNode]:
    bucket = f"hubbub-{uuid.uuid4().hex[:12]}"
    moto_s3.client().create_bucket(Bucket=bucket)
    for name, value in {
        "HUBBUB_MEDIA_BACKEND": "s3",
        "HUBBUB_MEDIA_S3_ENDPOINT": moto_s3.endpoint,
        "HUBBUB_MEDIA_S3_BUCKET": bucket,
        "HUBBUB_MEDIA_S3_REGION": REGION,
        "HUBBUB_MEDIA_SWEEP_INTERVAL_S": "0",  # this test runs the pass itself, at its own now
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    node = await start_single_node(config_for_tests(tmp_path))
    try:
        yield node
    finally:
        await node.stop()


async def upload(client: WireClient, conv: int) -> pb.MediaRef:
    asked = pb.RequestUpload(conversation_id=conv, content_type="image/png", size_bytes=len(PNG))
    grant = (await client.request(pb.ClientFrame(request_upload=asked))).upload_url
    assert grant.confirm, grant
    async with httpx.AsyncClient() as http:
        put = await http.put(grant.url, content=PNG, headers={"Content-Type": "image/png"})
    assert put.status_code == 200, put.text
    ref = pb.MediaRef(key=grant.key, content_type=grant.content_type, size_bytes=grant.size_bytes)
    confirmed = await client.request(pb.ClientFrame(confirm_upload=ref))
    assert confirmed.WhichOneof("kind") == "upload_confirmed", confirmed
    return confirmed.upload_confirmed


async def test_a_photo_in_s3_is_sent_read_back_and_only_the_unsent_upload_is_swept(
    s3_node: SingleNode, moto_s3: S3Server
) -> None:
    alice = await WireClient.sign_up(s3_node.ws_url, "alice")
    bob = await WireClient.sign_up(s3_node.ws_url, "bob")
    conv = await open_direct(alice, "bob")
    sent, unsent = await upload(alice, conv), await upload(alice, conv)
    send = pb.SendMessage(conversation_id=conv, client_msg_id="photo-1", media=sent)
    assert (await alice.request(pb.ClientFrame(send=send))).WhichOneof("kind") == "sent"

    (got,) = await bob.messages(1, conv)
    asked = pb.RequestDownloads(conversation_id=conv, keys=[got.media.key])
    urls = (await bob.request(pb.ClientFrame(request_downloads=asked))).download_urls
    async with httpx.AsyncClient() as http:
        photo = await http.get(urls.urls[0].url)
    assert (photo.status_code, photo.content) == (200, PNG)

    store = S3BlobStore(moto_s3.client(), os.environ["HUBBUB_MEDIA_S3_BUCKET"], SystemClock())
    channel = internal_channel(s3_node.messaging_target, s3_node.config.internal_secret)
    try:
        references = HistoryReferences(MessagingStub(channel))
        later = SystemClock().now_ms() + int(GRACE_S * 1000)
        assert await sweep_once(store, references, later, int(GRACE_S * 1000)) == 1
    finally:
        await channel.close()
    assert await store.head(unsent.key) is None
    assert await store.head(sent.key) is not None
    for client in (alice, bob):
        await client.close()


async def test_the_sdk_attaches_to_s3_by_confirming_and_the_peer_saves_it(
    s3_node: SingleNode, tmp_path: Path
) -> None:
    alice_id, bob_id = unique("alice"), unique("bob")
    alice, bob = await sign_up(s3_node, alice_id), await sign_up(s3_node, bob_id)
    conversation = (await alice.open_direct(bob_id)).conversation_id
    photo = tmp_path / "sunset.png"
    photo.write_bytes(PNG)
    sent = await media_transfer.attach(alice, conversation, str(photo), "look")
    (got,) = await messages(bob, 1)
    assert got.seq == sent.seq and got.media.receipt  # confirmed: S3 itself answered none
    saved, size = await media_transfer.save(bob, conversation, got.media.key, str(tmp_path / "copy.png"))
    assert size == len(PNG) and saved.read_bytes() == PNG
    await alice.close()
    await bob.close()
