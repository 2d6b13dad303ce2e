"""The edge's media frames, in the sans-I/O session: upload URLs it signs itself, sends whose
MediaRef it checks, download requests it hands to messaging for the membership check."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson
import pytest

from edge.actions import QueryKind, ToMessaging, ToRouter
from edge.codec import JSON
from edge.media import MediaUrls
from edge.session import Session, SessionSettings
from kernel.blob_store import BlobInfo
from kernel.errors import ErrorCode, HubbubError, InvalidArgument
from kernel.limits import (
    MAX_MEDIA_BYTES,
    MAX_MEDIA_DOWNLOAD_KEYS,
    MAX_MEDIA_THUMBNAIL_BYTES,
    MEDIA_RECEIPT_TTL_MS,
)
from kernel.media_urls import SignedUrls, key_owner, media_key, new_key, receipt, verify_upload
from kernel.tokens import issue_token
from protos import client_pb2 as pb
from tests.edge.test_session import SECRET, SETTINGS, T0, error_of, hello, replies, token_hello

MEDIA = MediaUrls(SignedUrls("http://blobs.test", SECRET), SECRET)
WITH_MEDIA = SessionSettings(
    edge_id=SETTINGS.edge_id,
    token_secret=SECRET,
    heartbeat_interval_ms=SETTINGS.heartbeat_interval_ms,
    heartbeat_timeout_ms=SETTINGS.heartbeat_timeout_ms,
    media=MEDIA,
)


def alice(settings: SessionSettings = WITH_MEDIA) -> Session:
    session = Session(7, settings, T0)
    token_hello(session, hello(issue_token(SECRET, "alice", T0, 60_000)[0]), T0)
    return session


def ask_upload(content_type: str = "image/png", size: int = 1000, conv: int = 42) -> pb.ClientFrame:
    request = pb.RequestUpload(conversation_id=conv, content_type=content_type, size_bytes=size)
    return pb.ClientFrame(ref=9, request_upload=request)


def send_with(media: pb.MediaRef, conv: int = 42) -> pb.ClientFrame:
    send = pb.SendMessage(conversation_id=conv, client_msg_id="m-1", body="a photo", media=media)
    return pb.ClientFrame(ref=5, send=send)


def uploaded(key: str, size: int = 1000) -> pb.MediaRef:
    proof = receipt(media_key(SECRET), key, "image/png", size, T0)
    return pb.MediaRef(
        key=key, content_type="image/png", size_bytes=size, receipt=proof, width=640, height=480
    )


def test_request_upload_is_answered_with_a_url_signed_for_that_key_type_and_size() -> None:
    (frame,) = replies(alice().receive(ask_upload(), T0 + 5))
    answer = frame.upload_url
    assert frame.ref == 9 and key_owner(answer.key) == (42, "alice")
    url = urlsplit(answer.url)
    assert url.netloc == "blobs.test"
    grant = verify_upload(media_key(SECRET), answer.key, url.query, T0 + 6)
    assert (grant.content_type, grant.size_bytes, grant.expires_at_ms) == (
        "image/png",
        1000,
        answer.expires_at_ms,
    )


def test_request_upload_of_a_wrong_type_or_size_is_refused_with_its_code() -> None:
    session = alice()
    assert error_of(session.receive(ask_upload("text/html"), T0)).code == "INVALID_ARGUMENT"
    assert error_of(session.receive(ask_upload(size=MAX_MEDIA_BYTES + 1), T0)).code == "TOO_LARGE"
    assert error_of(session.receive(ask_upload(conv=0), T0)).code == "INVALID_ARGUMENT"
    assert session.receive(ask_upload(), T0)  # the connection carries on


def test_a_node_without_media_says_unavailable() -> None:
    session = alice(SETTINGS)
    assert error_of(session.receive(ask_upload(), T0)).code == "UNAVAILABLE"
    downloads = pb.ClientFrame(ref=3, request_downloads=pb.RequestDownloads(conversation_id=42, keys=["k"]))
    assert error_of(session.receive(downloads, T0)).code == "UNAVAILABLE"


def test_a_send_pointing_to_an_uploaded_object_goes_to_the_router() -> None:
    frame = send_with(uploaded(new_key(42, "alice")))
    (action,) = alice().receive(frame, T0)
    assert isinstance(action, ToRouter) and action.frame.send.media.width == 640


def test_a_send_pointing_to_no_upload_or_someone_elses_is_refused() -> None:
    session = alice()
    never = uploaded(new_key(42, "alice"))
    never.receipt = ""
    assert error_of(session.receive(send_with(never), T0)).code == "NOT_FOUND"
    assert error_of(session.receive(send_with(uploaded(new_key(42, "bob"))), T0)).code == "PERMISSION_DENIED"
    assert (
        error_of(session.receive(send_with(uploaded(new_key(41, "alice"))), T0)).code == "PERMISSION_DENIED"
    )
    big = uploaded(new_key(42, "alice"))
    big.thumbnail = b"x" * (MAX_MEDIA_THUMBNAIL_BYTES + 1)
    assert error_of(session.receive(send_with(big), T0)).code == "TOO_LARGE"
    assert error_of(session.receive(send_with(pb.MediaRef(key="../x")), T0)).code == "INVALID_ARGUMENT"


def test_request_downloads_goes_to_messaging_for_the_membership_check() -> None:
    keys = [new_key(42, "bob")]
    frame = pb.ClientFrame(ref=3, request_downloads=pb.RequestDownloads(conversation_id=42, keys=keys))
    (action,) = alice().receive(frame, T0)
    assert isinstance(action, ToMessaging) and action.kind is QueryKind.MEDIA_DOWNLOADS
    too_many = pb.RequestDownloads(conversation_id=42, keys=keys * (MAX_MEDIA_DOWNLOAD_KEYS + 1))
    refused = alice().receive(pb.ClientFrame(ref=4, request_downloads=too_many), T0)
    assert error_of(refused).code == "INVALID_ARGUMENT"


def test_download_urls_are_signed_only_for_keys_of_the_conversation_asked_about() -> None:
    mine = new_key(42, "bob")
    reply = MEDIA.downloads(3, pb.RequestDownloads(conversation_id=42, keys=[mine]), T0).download_urls
    assert [url.key for url in reply.urls] == [mine] and reply.urls[0].url.startswith("http://blobs.test/")
    with pytest.raises(InvalidArgument):
        MEDIA.downloads(3, pb.RequestDownloads(conversation_id=42, keys=[new_key(43, "bob")]), T0)


def test_the_media_frames_speak_the_json_subprotocol() -> None:
    asked = {"conversationId": "42", "contentType": "image/png", "sizeBytes": "208"}
    frame = JSON.decode(orjson.dumps({"ref": "24", "requestUpload": asked}))
    assert frame.request_upload.size_bytes == 208 and frame.request_upload.conversation_id == 42
    (reply,) = replies(alice().receive(frame, T0))
    encoded = orjson.loads(JSON.encode(reply))
    assert set(encoded["uploadUrl"]) == {"key", "url", "expiresAtMs", "contentType", "sizeBytes"}
    media = uploaded(new_key(42, "alice"))
    media.thumbnail = b"\x89PNG"
    as_json = orjson.loads(JSON.encode(pb.ServerFrame(message=pb.Message(media=media))))
    assert as_json["message"]["media"]["thumbnail"] == "iVBORw=="


def test_confirm_upload_goes_to_the_io_layer_and_is_unavailable_without_media() -> None:
    ref = pb.MediaRef(key=new_key(42, "alice"), content_type="image/png", size_bytes=1000)
    (action,) = alice().receive(pb.ClientFrame(ref=6, confirm_upload=ref), T0)
    assert isinstance(action, ToMessaging) and action.kind is QueryKind.MEDIA_CONFIRM
    refused = alice(SETTINGS).receive(pb.ClientFrame(ref=7, confirm_upload=ref), T0)
    assert error_of(refused).code == "UNAVAILABLE"


class SilentStore(SignedUrls):
    """An object store whose head never answers (S3 unreachable, boto3 retrying)."""

    async def head(self, key: str) -> BlobInfo | None:
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    async def delete(self, key: str) -> bool:
        raise AssertionError("not called")


async def test_a_confirm_the_store_never_answers_is_unavailable_not_a_wait_forever() -> None:
    store = SilentStore("http://blobs.test", SECRET)
    media = MediaUrls(store, SECRET, confirm_with=store, confirm_timeout_s=0.05)
    upload = pb.MediaRef(key=new_key(42, "alice"), content_type="image/png", size_bytes=3)
    with pytest.raises(HubbubError) as refused:
        await asyncio.wait_for(media.confirm(6, "alice", upload, T0), 30)  # the guard of the test only
    assert refused.value.code is ErrorCode.UNAVAILABLE


def test_a_send_whose_upload_is_over_an_hour_old_goes_to_the_router_to_be_deduped() -> None:
    """Its owner answers a retry of a send stored in time with the original, and refuses a
    new one NOT_FOUND (messaging/appends.py): the edge cannot tell them apart."""
    frame = send_with(uploaded(new_key(42, "alice")))
    session = alice()
    (action,) = session.receive(frame, T0 + MEDIA_RECEIPT_TTL_MS + 1)
    assert isinstance(action, ToRouter)
