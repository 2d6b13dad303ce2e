"""The edge's side of attachments: it signs upload and download URLs for the blob server and
checks every MediaRef a send carries, so no byte of media ever passes through a router.

Pure apart from the random key: the clock is passed in (docs/media.md has the whole flow).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from kernel.blob_store import BlobStore, UrlSigner, check_stored
from kernel.errors import InvalidArgument, PermissionDenied, TooLarge, Unavailable
from kernel.limits import (
    MAX_MEDIA_BLURHASH_CHARS,
    MAX_MEDIA_DOWNLOAD_KEYS,
    MAX_MEDIA_FILE_NAME_CHARS,
    MAX_MEDIA_THUMBNAIL_BYTES,
)
from kernel.media_urls import (
    check_attachment,
    check_upload_request,
    grant_upload,
    key_owner,
    media_key,
    new_key,
    receipt,
)
from protos.client_pb2 import (
    DownloadUrl,
    DownloadUrls,
    MediaRef,
    RequestDownloads,
    RequestUpload,
    SendMessage,
    ServerFrame,
    UploadUrl,
)

CONFIRM_TIMEOUT_S = 10.0
"""The longest confirm_upload waits on the store's head (boto3's own timeouts and retries run
to minutes): past it the client hears UNAVAILABLE and may confirm again."""


class MediaUrls:
    """URLs of the object store for clients (signed by `signer`), and the check of a send's
    MediaRef against the blob server's receipt (the media key derived from the token secret).
    `confirm_with`: a store that answers uploads with no receipt (S3); the edge then gives the
    receipt itself, once `head` shows the object stored as granted (confirm_upload)."""

    __slots__ = ("_confirm_timeout_s", "_confirm_with", "_key", "_signer")

    def __init__(
        self,
        signer: UrlSigner,
        token_secret: str,
        confirm_with: BlobStore | None = None,
        *,
        confirm_timeout_s: float = CONFIRM_TIMEOUT_S,
    ) -> None:
        self._signer = signer
        self._key = media_key(token_secret)
        self._confirm_with = confirm_with
        self._confirm_timeout_s = confirm_timeout_s

    def upload(self, ref: int, user_id: str, request: RequestUpload, now_ms: int) -> ServerFrame:
        """The answer to request_upload (ids range-checked already)."""
        check_upload_request(request.content_type, request.size_bytes)
        key = new_key(request.conversation_id, user_id)
        grant = grant_upload(key, request.content_type, request.size_bytes, now_ms)
        url = UploadUrl(
            key=key,
            url=self._signer.upload_url(grant),
            expires_at_ms=grant.expires_at_ms,
            content_type=grant.content_type,
            size_bytes=grant.size_bytes,
            confirm=self._confirm_with is not None,
        )
        return ServerFrame(ref=ref, upload_url=url)

    async def confirm(self, ref: int, user_id: str, upload: MediaRef, now_ms: int) -> ServerFrame:
        """The receipt of the caller's own upload, once the store holds exactly what its URL
        allowed (kernel.blob_store.check_stored): the S3 side of what the blob server answers
        to a PUT. PERMISSION_DENIED for another user's key; NOT_FOUND before the upload."""
        if self._confirm_with is None:
            raise Unavailable("this node's blob server answers the receipt to the upload itself")
        _, uploader = key_owner(upload.key)
        if uploader != user_id:
            raise PermissionDenied("that media belongs to another user")
        store = self._confirm_with
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                info = await check_stored(store, upload.key, upload.content_type, upload.size_bytes)
        except TimeoutError:
            raise Unavailable("the object store did not answer in time: confirm again") from None
        stored_at_ms = info.stored_at_ms or now_ms  # the upload's time: a late confirm adds none
        proof = receipt(self._key, info.key, info.content_type, info.size_bytes, stored_at_ms)
        stored = MediaRef(
            key=info.key, content_type=info.content_type, size_bytes=info.size_bytes, receipt=proof
        )
        return ServerFrame(ref=ref, upload_confirmed=stored)

    def downloads(self, ref: int, request: RequestDownloads, now_ms: int) -> ServerFrame:
        """Download URLs for keys of `request.conversation_id` (its membership checked by the
        caller): a key of another conversation is refused, whoever knows it."""
        reply = DownloadUrls(conversation_id=request.conversation_id)
        for key in request.keys:
            conversation_id, _ = key_owner(key)
            if conversation_id != request.conversation_id:
                raise InvalidArgument("a key of another conversation")
            url, reply.expires_at_ms = self._signer.download_url(key, now_ms)
            reply.urls.append(DownloadUrl(key=key, url=url))
        return ServerFrame(ref=ref, download_urls=reply)

    def check_send(self, send: SendMessage, sender: str) -> None:
        """A send's MediaRef, if any: bounded, and proven uploaded by its sender for this
        conversation (kernel.media_urls.check_attachment). Not its age: the owner checks that
        after dedupe, so a retry after the receipt's hour is answered with its original."""
        if not send.HasField("media"):
            return
        media = send.media
        check_ref_bounds(media)
        check_attachment(self._key, media, send.conversation_id, sender)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (the web client's policy names the blob server by it)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def check_ref_bounds(media: MediaRef) -> None:
    if len(media.thumbnail) > MAX_MEDIA_THUMBNAIL_BYTES:
        raise TooLarge(f"media thumbnail larger than {MAX_MEDIA_THUMBNAIL_BYTES} bytes")
    if len(media.blurhash) > MAX_MEDIA_BLURHASH_CHARS:
        raise TooLarge(f"media blurhash longer than {MAX_MEDIA_BLURHASH_CHARS} characters")
    if len(media.file_name) > MAX_MEDIA_FILE_NAME_CHARS:
        raise TooLarge(f"media fileName longer than {MAX_MEDIA_FILE_NAME_CHARS} characters")


def check_download_request(request: RequestDownloads) -> None:
    if not request.keys:
        raise InvalidArgument("requestDownloads needs keys")
    if len(request.keys) > MAX_MEDIA_DOWNLOAD_KEYS:
        raise InvalidArgument(f"requestDownloads carries more than {MAX_MEDIA_DOWNLOAD_KEYS} keys: split it")
