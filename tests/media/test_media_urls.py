"""The signed-URL rules (kernel.media_urls): what a URL allows, and every way it is refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from kernel.errors import ErrorCode, HubbubError
from kernel.limits import MAX_MEDIA_BYTES, MEDIA_DOWNLOAD_TTL_MS, MEDIA_RECEIPT_TTL_MS, MEDIA_UPLOAD_TTL_MS
from kernel.media_urls import (
    SignedUrls,
    check_attachment,
    check_receipt_fresh,
    check_upload_request,
    download_target,
    grant_upload,
    key_owner,
    media_key,
    new_key,
    receipt,
    verify_download,
    verify_upload,
)
from protos.client_pb2 import MediaRef

SECRET = "test-secret"
KEY = media_key(SECRET)
T0 = 1_700_000_000_000
URLS = SignedUrls("http://blobs.test/", SECRET)


def code_of(call: object) -> ErrorCode:
    assert callable(call)
    with pytest.raises(HubbubError) as caught:
        call()
    return caught.value.code


def split(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parts.query


def upload_query(key: str, content_type: str = "image/png", size: int = 10) -> str:
    return split(URLS.upload_url(grant_upload(key, content_type, size, T0)))[1]


def test_a_signed_upload_url_carries_its_grant_until_it_expires() -> None:
    key = new_key(42, "alice")
    grant = verify_upload(KEY, key, upload_query(key), T0 + 1)
    assert (grant.key, grant.content_type, grant.size_bytes) == (key, "image/png", 10)
    assert grant.expires_at_ms == T0 + MEDIA_UPLOAD_TTL_MS
    assert code_of(lambda: verify_upload(KEY, key, upload_query(key), T0 + MEDIA_UPLOAD_TTL_MS)) == (
        ErrorCode.UNAUTHENTICATED
    )


def test_a_tampered_upload_url_or_another_key_is_refused() -> None:
    key, other = new_key(42, "alice"), new_key(42, "alice")
    query = upload_query(key)
    assert code_of(lambda: verify_upload(KEY, other, query, T0)) is ErrorCode.UNAUTHENTICATED
    bigger = query.replace("size=10", "size=10000")
    assert code_of(lambda: verify_upload(KEY, key, bigger, T0)) is ErrorCode.UNAUTHENTICATED
    later = query.replace(f"exp={T0 + MEDIA_UPLOAD_TTL_MS}", f"exp={T0 + 10 * MEDIA_UPLOAD_TTL_MS}")
    assert code_of(lambda: verify_upload(KEY, key, later, T0)) is ErrorCode.UNAUTHENTICATED
    assert code_of(lambda: verify_upload(media_key("other"), key, query, T0)) is ErrorCode.UNAUTHENTICATED
    assert code_of(lambda: verify_upload(KEY, key, "", T0)) is ErrorCode.UNAUTHENTICATED


def test_a_download_url_is_short_lived_and_bound_to_its_key() -> None:
    key = new_key(42, "alice")
    url, expires = URLS.download_url(key, T0)
    assert url.startswith("http://blobs.test/media/object/") and expires == T0 + MEDIA_DOWNLOAD_TTL_MS
    query = split(url)[1]
    verify_download(KEY, key, query, T0 + 1)
    assert code_of(lambda: verify_download(KEY, key, query, expires)) is ErrorCode.UNAUTHENTICATED
    assert code_of(lambda: verify_download(KEY, new_key(42, "alice"), query, T0)) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("content_type", "size", "code"),
    [
        ("text/html", 10, ErrorCode.INVALID_ARGUMENT),
        ("image/svg+xml", 10, ErrorCode.INVALID_ARGUMENT),
        ("image/png", 0, ErrorCode.INVALID_ARGUMENT),
        ("image/png", MAX_MEDIA_BYTES + 1, ErrorCode.TOO_LARGE),
    ],
)
def test_off_the_allow_list_or_too_large_gets_no_url(content_type: str, size: int, code: ErrorCode) -> None:
    assert code_of(lambda: check_upload_request(content_type, size)) is code


def test_keys_name_their_conversation_and_uploader_and_nothing_else_parses() -> None:
    assert key_owner(new_key(42, "a.b-c")) == (42, "a.b-c")
    for bad in ("", "42/alice", "42/alice/short", "../etc/passwd", "42/Alice/" + "x" * 22):
        assert code_of(lambda bad=bad: key_owner(bad)) is ErrorCode.INVALID_ARGUMENT


def attached(key: str, proof: str, size: int = 10) -> MediaRef:
    return MediaRef(key=key, content_type="image/png", size_bytes=size, receipt=proof)


def test_a_message_may_point_only_to_its_senders_uploaded_object() -> None:
    key = new_key(42, "alice")
    proof = receipt(KEY, key, "image/png", 10, T0)

    def refusal(ref: MediaRef, conversation_id: int = 42, sender: str = "alice") -> ErrorCode:
        return code_of(lambda: check_attachment(KEY, ref, conversation_id, sender))

    check_attachment(KEY, attached(key, proof), 42, "alice")
    assert refusal(attached(key, proof), sender="bob") is ErrorCode.PERMISSION_DENIED
    assert refusal(attached(key, proof), conversation_id=43) is ErrorCode.PERMISSION_DENIED
    assert refusal(attached(key, "")) is ErrorCode.NOT_FOUND
    # the receipt is for 10 bytes: a ref claiming another size is not what was stored
    assert refusal(attached(key, proof, 11)) is ErrorCode.NOT_FOUND
    # the receipt carries its upload's time, signed: a later time is a forgery
    later = f"{T0 + MEDIA_RECEIPT_TTL_MS}.{proof.partition('.')[2]}"
    assert refusal(attached(key, later)) is ErrorCode.NOT_FOUND


def test_a_receipt_over_its_hour_old_is_too_old_for_a_new_message() -> None:
    proof = receipt(KEY, new_key(42, "alice"), "image/png", 10, T0)
    check_receipt_fresh(proof, T0 + MEDIA_RECEIPT_TTL_MS)
    too_late = code_of(lambda: check_receipt_fresh(proof, T0 + MEDIA_RECEIPT_TTL_MS + 1))
    assert too_late is ErrorCode.NOT_FOUND  # it may be swept: upload it again


def test_a_forged_signature_or_receipt_in_any_text_is_refused_not_a_crash() -> None:
    """Review finding: non-ASCII text made `compare_digest` raise TypeError, which aborted the
    sender's connection (receipt) and answered the blob server's client 500 (signature)."""
    key = new_key(42, "alice")
    query = upload_query(key)
    forged = query.split("sig=")[0] + "sig=%C3%A9"
    assert code_of(lambda: verify_upload(KEY, key, forged, T0)) is ErrorCode.UNAUTHENTICATED
    target, _ = download_target(KEY, key, T0)
    forged_download = urlsplit(target).query.split("sig=")[0] + "sig=é"
    assert code_of(lambda: verify_download(KEY, key, forged_download, T0)) is ErrorCode.UNAUTHENTICATED
    for forged_receipt in ("é", "é.é", f"{T0}.é", "١٢٣.abc"):  # Arabic-Indic digits are decimal too
        refused = code_of(lambda r=forged_receipt: check_attachment(KEY, attached(key, r), 42, "alice"))
        assert refused is ErrorCode.NOT_FOUND
