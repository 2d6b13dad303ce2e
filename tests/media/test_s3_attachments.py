"""Attachments on S3 (moto's server), as the edge sees them: the upload URL says confirm, the
client PUTs straight to the bucket, confirm_upload heads the object against its grant and
answers the receipt a send needs. S3 gives no receipt of its own."""

from __future__ import annotations

import httpx
import pytest

from edge.media import MediaUrls
from kernel.clock import SystemClock
from kernel.errors import ErrorCode, HubbubError
from media.s3_store import S3BlobStore
from protos import client_pb2 as pb

SECRET = "s3-test-token-secret"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
NOW = SystemClock().now_ms()  # S3 stamps the upload's time (LastModified) by its own clock


def edge_media(store: S3BlobStore) -> MediaUrls:
    return MediaUrls(store, SECRET, confirm_with=store)


def ask(conv: int = 42, size: int = len(PNG)) -> pb.RequestUpload:
    return pb.RequestUpload(conversation_id=conv, content_type="image/png", size_bytes=size)


async def put(url: str, body: bytes, content_type: str = "image/png") -> int:
    async with httpx.AsyncClient() as client:
        answer = await client.put(url, content=body, headers={"Content-Type": content_type})
    return answer.status_code


def ref_of(grant: pb.UploadUrl) -> pb.MediaRef:
    return pb.MediaRef(key=grant.key, content_type=grant.content_type, size_bytes=grant.size_bytes)


async def code_of(media: MediaUrls, user: str, ref: pb.MediaRef) -> ErrorCode:
    with pytest.raises(HubbubError) as caught:
        await media.confirm(1, user, ref, NOW)
    return caught.value.code


async def test_an_upload_to_s3_is_confirmed_into_a_receipt_the_send_check_accepts(
    s3_store: S3BlobStore,
) -> None:
    media = edge_media(s3_store)
    grant = media.upload(9, "alice", ask(), s3_store.clock.now_ms()).upload_url
    assert grant.confirm and grant.url.startswith("http://127.0.0.1:") and s3_store.bucket in grant.url
    assert await put(grant.url, PNG) == 200
    answer = await media.confirm(10, "alice", ref_of(grant), NOW)
    assert answer.ref == 10 and answer.upload_confirmed.receipt
    send = pb.SendMessage(conversation_id=42, client_msg_id="m-1", media=answer.upload_confirmed)
    media.check_send(send, "alice")  # the receipt passes, as a blob server's would


async def test_confirm_refuses_before_the_upload_for_another_user_and_unlike_the_grant(
    s3_store: S3BlobStore,
) -> None:
    media = edge_media(s3_store)
    grant = media.upload(9, "alice", ask(), s3_store.clock.now_ms()).upload_url
    assert await code_of(media, "alice", ref_of(grant)) is ErrorCode.NOT_FOUND  # nothing PUT yet
    assert await put(grant.url, PNG + b"!") == 200  # moto takes what real S3 refuses (403)
    assert await code_of(media, "alice", ref_of(grant)) is ErrorCode.INVALID_ARGUMENT
    assert await code_of(media, "mallory", ref_of(grant)) is ErrorCode.PERMISSION_DENIED


async def test_a_blob_server_node_has_nothing_to_confirm(s3_store: S3BlobStore) -> None:
    media = MediaUrls(s3_store, SECRET)  # no confirm_with: the blob server answers receipts
    grant = media.upload(9, "alice", ask(), s3_store.clock.now_ms()).upload_url
    assert not grant.confirm
    assert await code_of(media, "alice", ref_of(grant)) is ErrorCode.UNAVAILABLE
