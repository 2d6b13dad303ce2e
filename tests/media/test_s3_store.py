"""The S3 backend against moto's S3 server: what its presigned URLs bind, and the check that
stands behind them. moto verifies no signature (any PUT to a presigned URL is taken), so what
S3 itself enforces is asserted on the URL (its signed headers), and hubbub's `check_stored`
is shown catching the upload that S3 would have refused."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from deploy.local_servers.moto_s3 import S3Server
from deploy.media_store import edge_blob_store
from kernel.blob_store import check_stored
from kernel.clock import ManualClock
from kernel.errors import ErrorCode, HubbubError
from kernel.limits import MEDIA_DOWNLOAD_TTL_MS
from kernel.media_urls import grant_upload, new_key
from media.config import MediaConfig
from media.s3_store import S3BlobStore


def test_an_upload_url_signs_its_key_type_and_length_and_lasts_as_long_as_the_grant(
    s3_store: S3BlobStore,
) -> None:
    key = new_key(3, "alice")
    grant = grant_upload(key, "image/png", 1234, s3_store.clock.now_ms())
    url = urlsplit(s3_store.upload_url(grant))
    query = parse_qs(url.query)
    assert unquote(url.path) == f"/{s3_store.bucket}/{key}"
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["300"]


async def test_an_upload_by_its_url_is_read_back_by_a_download_url(s3_store: S3BlobStore) -> None:
    key = new_key(3, "alice")
    now = s3_store.clock.now_ms()
    upload = s3_store.upload_url(grant_upload(key, "image/png", 5, now))
    async with httpx.AsyncClient() as client:
        put = await client.put(upload, content=b"\x89PNG!", headers={"Content-Type": "image/png"})
        assert put.status_code == 200
        url, expires_at_ms = s3_store.download_url(key, now)
        got = await client.get(url)
    assert expires_at_ms == now + MEDIA_DOWNLOAD_TTL_MS
    assert got.status_code == 200
    assert got.content == b"\x89PNG!"
    assert got.headers["content-type"] == "image/png"


@pytest.mark.parametrize(("content_type", "body"), [("text/plain", b"12345"), ("image/png", b"123456")])
async def test_an_upload_unlike_its_grant_cannot_be_attached(
    s3_store: S3BlobStore, content_type: str, body: bytes
) -> None:
    key = new_key(3, "alice")
    upload = s3_store.upload_url(grant_upload(key, "image/png", 5, s3_store.clock.now_ms()))
    async with httpx.AsyncClient() as client:  # real S3 answers 403 here; moto stores it
        await client.put(upload, content=body, headers={"Content-Type": content_type})
    with pytest.raises(HubbubError) as caught:
        await check_stored(s3_store, key, "image/png", 5)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


def test_without_credentials_an_upload_url_is_unavailable_not_a_crash(
    moto_s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = edge_blob_store(
        MediaConfig(backend="s3", s3_endpoint=moto_s3.endpoint, s3_bucket="b"), ManualClock()
    )
    assert store is not None
    grant = grant_upload(new_key(3, "alice"), "image/png", 5, store.clock.now_ms())
    with pytest.raises(HubbubError) as caught:
        store.upload_url(grant)
    assert caught.value.code is ErrorCode.UNAVAILABLE
