"""Signed media URLs: what the edge signs and the blob server checks (pure, the clock injected).

An upload URL is bound to one object key, content type, size and expiry; the blob server's
receipt proves an object was stored under a key by its uploader, so a message may point to it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode

from kernel.errors import InvalidArgument, NotFound, PermissionDenied, TooLarge, Unauthenticated
from kernel.limits import (
    MAX_MEDIA_BYTES,
    MAX_MEDIA_KEY_CHARS,
    MEDIA_DOWNLOAD_TTL_MS,
    MEDIA_RECEIPT_TTL_MS,
    MEDIA_TYPES,
    MEDIA_UPLOAD_TTL_MS,
)
from protos.client_pb2 import MediaRef

UPLOAD_PATH = "/media/upload/"
DOWNLOAD_PATH = "/media/object/"
_KEY = re.compile(r"(\d{1,19})/([a-z0-9_.-]{1,32})/([A-Za-z0-9_-]{22})")


def media_key(secret: str) -> bytes:
    """The media HMAC key, derived from the node's token secret (one secret to keep, and a
    media signature can never pass as a token signature)."""
    return hmac.new(secret.encode(), b"hubbub media urls v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """What one upload URL allows: exactly these bytes, of this type, under this key."""

    key: str
    content_type: str
    size_bytes: int
    expires_at_ms: int


def check_upload_request(content_type: str, size_bytes: int) -> None:
    """Refuse a type off the allow-list or a size out of bounds, before any URL exists."""
    if content_type not in MEDIA_TYPES:
        raise InvalidArgument(f"content type {content_type[:100]!r} is not allowed (docs/media.md)")
    if size_bytes == 0:
        raise InvalidArgument("sizeBytes is required")
    if size_bytes > MAX_MEDIA_BYTES:
        raise TooLarge(f"an upload is at most {MAX_MEDIA_BYTES} bytes")


def new_key(conversation_id: int, user_id: str) -> str:
    """A fresh, unguessable key naming its conversation and uploader."""
    return f"{conversation_id}/{user_id}/{secrets.token_urlsafe(16)}"


def key_owner(key: str) -> tuple[int, str]:
    """(conversation_id, uploader) of a well-formed key; InvalidArgument otherwise."""
    match = _KEY.fullmatch(key) if len(key) <= MAX_MEDIA_KEY_CHARS else None
    if match is None:
        raise InvalidArgument("not a media key")
    return int(match.group(1)), match.group(2)


def _mac(key: bytes, *parts: object) -> str:
    text = "\n".join(str(part) for part in parts).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def grant_upload(object_key: str, content_type: str, size_bytes: int, now_ms: int) -> UploadGrant:
    return UploadGrant(object_key, content_type, size_bytes, now_ms + MEDIA_UPLOAD_TTL_MS)


def upload_target(key: bytes, grant: UploadGrant) -> str:
    """The path and query of the upload URL (the caller puts its public base in front)."""
    sig = _mac(key, "upload", grant.key, grant.content_type, grant.size_bytes, grant.expires_at_ms)
    fields = {"type": grant.content_type, "size": grant.size_bytes, "exp": grant.expires_at_ms, "sig": sig}
    query = urlencode(fields)
    return f"{UPLOAD_PATH}{quote(grant.key)}?{query}"


def download_target(key: bytes, object_key: str, now_ms: int) -> tuple[str, int]:
    """The path and query of a download URL for `object_key`, and when it expires."""
    expires = now_ms + MEDIA_DOWNLOAD_TTL_MS
    sig = _mac(key, "download", object_key, expires)
    return f"{DOWNLOAD_PATH}{quote(object_key)}?{urlencode({'exp': expires, 'sig': sig})}", expires


def _query(query: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(query).items()}


def _same_mac(expected: str, given: str) -> bool:
    """Constant-time; compares bytes, so a forged value of any text (non-ASCII included, which
    `compare_digest` refuses as str with a TypeError) is just a mismatch."""
    return hmac.compare_digest(expected.encode(), given.encode())


def _expired_or_forged(expected: str, given: str, expires_ms: int, now_ms: int) -> None:
    if not _same_mac(expected, given):
        raise Unauthenticated("bad media URL signature")
    if expires_ms <= now_ms:
        raise Unauthenticated("media URL expired")


def verify_upload(key: bytes, object_key: str, query: str, now_ms: int) -> UploadGrant:
    """The grant a signed upload URL carries; Unauthenticated when tampered with or expired."""
    fields = _query(query)
    try:
        grant = UploadGrant(object_key, fields["type"], int(fields["size"]), int(fields["exp"]))
        given = fields["sig"]
    except (KeyError, ValueError) as exc:
        raise Unauthenticated("not a signed upload URL") from exc
    expected = _mac(key, "upload", grant.key, grant.content_type, grant.size_bytes, grant.expires_at_ms)
    _expired_or_forged(expected, given, grant.expires_at_ms, now_ms)
    return grant


def verify_download(key: bytes, object_key: str, query: str, now_ms: int) -> None:
    fields = _query(query)
    try:
        expires, given = int(fields["exp"]), fields["sig"]
    except (KeyError, ValueError) as exc:
        raise Unauthenticated("not a signed download URL") from exc
    _expired_or_forged(_mac(key, "download", object_key, expires), given, expires, now_ms)


def receipt(key: bytes, object_key: str, content_type: str, size_bytes: int, stored_at_ms: int) -> str:
    """The proof that exactly this object was stored, and when: `STORED_AT_MS.MAC` (the blob
    server answers it to the upload; for S3 the edge, after a head)."""
    return f"{stored_at_ms}.{_mac(key, 'stored', object_key, content_type, size_bytes, stored_at_ms)}"


def check_attachment(key: bytes, media: MediaRef, conversation_id: int, sender: str) -> None:
    """A MediaRef may go into a message only when its sender uploaded it, for that conversation,
    and the store holds it as described: PERMISSION_DENIED for someone else's key, NOT_FOUND
    when no receipt proves the upload (never uploaded, or not as described). Its age is the
    partition owner's to check, after dedupe (check_receipt_fresh)."""
    owner_conversation, owner = key_owner(media.key)
    if owner != sender or owner_conversation != conversation_id:
        raise PermissionDenied("that media belongs to another user or conversation")
    stored_at_ms = receipt_stored_at_ms(media.receipt)
    expected = receipt(key, media.key, media.content_type, media.size_bytes, stored_at_ms)
    if stored_at_ms < 0 or not _same_mac(expected, media.receipt):
        raise NotFound("media not uploaded as described (no or a wrong receipt)")


def receipt_stored_at_ms(proof: str) -> int:
    """The upload's time a receipt carries (-1: none)."""
    stored_at, _, _ = proof.partition(".")
    return int(stored_at) if stored_at.isdecimal() and len(stored_at) <= 19 else -1


def check_receipt_fresh(proof: str, now_ms: int) -> None:
    """NOT_FOUND for a receipt (proven by check_attachment) of an upload over
    MEDIA_RECEIPT_TTL_MS old: a new message may not attach it (it may be swept: upload it
    again). The owner checks it only once dedupe found no original, so a send stored in time
    and retried later is answered with its original instead."""
    stored_at_ms = receipt_stored_at_ms(proof)
    if stored_at_ms >= 0 and now_ms - stored_at_ms > MEDIA_RECEIPT_TTL_MS:
        raise NotFound("media uploaded too long ago to attach (MEDIA_RECEIPT_TTL_MS): upload it again")


class SignedUrls:
    """UrlSigner for a blob server that checks hubbub's own HMAC (media.http_server)."""

    __slots__ = ("_key", "public_url")

    def __init__(self, public_url: str, token_secret: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._key = media_key(token_secret)

    def upload_url(self, grant: UploadGrant) -> str:
        return self.public_url + upload_target(self._key, grant)

    def download_url(self, key: str, now_ms: int) -> tuple[str, int]:
        path, expires = download_target(self._key, key, now_ms)
        return self.public_url + path, expires
