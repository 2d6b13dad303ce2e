"""One contract for every blob store backend: local files and S3 (moto's server) keep what
memory keeps. Uploads go the way each one takes them: `put` for the stores hubbub's blob
server writes into, the presigned PUT URL (over HTTP, as a client sends it) for S3."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kernel.blob_store import BlobInfo, ListedStore, check_stored
from kernel.errors import ErrorCode, HubbubError
from kernel.media_urls import SignedUrls, grant_upload, new_key
from media import LocalBlobStore, MemoryBlobStore
from media.s3_store import S3BlobStore
from media.writable import WritableStore

SIGNER = SignedUrls("http://blobs.test", "test-secret")


@dataclass
class Backend:
    store: ListedStore
    upload: Callable[[BlobInfo, bytes], Awaitable[None]]


def _put_into(store: WritableStore) -> Callable[[BlobInfo, bytes], Awaitable[None]]:
    async def upload(info: BlobInfo, data: bytes) -> None:
        await store.put(info, chunks(data))

    return upload


def _put_over_http(store: S3BlobStore) -> Callable[[BlobInfo, bytes], Awaitable[None]]:
    async def upload(info: BlobInfo, data: bytes) -> None:
        grant = grant_upload(info.key, info.content_type, info.size_bytes, store.clock.now_ms())
        async with httpx.AsyncClient() as client:
            headers = {"Content-Type": info.content_type}
            answer = await client.put(store.upload_url(grant), content=data, headers=headers)
        assert answer.status_code == 200, answer.text

    return upload


@pytest.fixture(params=["memory", "local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "s3":
        s3: S3BlobStore = request.getfixturevalue("s3_store")
        return Backend(s3, _put_over_http(s3))
    local = LocalBlobStore(tmp_path / "media", SIGNER)
    store = MemoryBlobStore(SIGNER) if request.param == "memory" else local
    return Backend(store, _put_into(store))


async def listed_keys(store: ListedStore) -> set[str]:
    return {stored.key async for stored in store.stored_objects()}


async def test_an_uploaded_object_heads_lists_and_deletes_by_key(backend: Backend) -> None:
    info = BlobInfo(new_key(1, "alice"), "image/png", 6)
    other = BlobInfo(new_key(1, "bob"), "text/plain", 2)
    await backend.upload(info, b"abcdef")
    await backend.upload(other, b"hi")
    assert await backend.store.head(info.key) == info
    assert await listed_keys(backend.store) == {info.key, other.key}
    assert await backend.store.delete(info.key) is True
    assert await backend.store.head(info.key) is None
    assert await backend.store.delete(info.key) is False
    assert await listed_keys(backend.store) == {other.key}


async def test_an_absent_key_heads_as_none_and_fails_the_stored_check(backend: Backend) -> None:
    key = new_key(1, "alice")
    assert await backend.store.head(key) is None
    with pytest.raises(HubbubError) as caught:
        await check_stored(backend.store, key, "image/png", 6)
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_the_stored_check_passes_only_the_granted_type_and_size(backend: Backend) -> None:
    info = BlobInfo(new_key(1, "alice"), "image/png", 6)
    await backend.upload(info, b"abcdef")
    assert await check_stored(backend.store, info.key, "image/png", 6) == info
    for content_type, size in (("image/jpeg", 6), ("image/png", 7)):
        with pytest.raises(HubbubError) as caught:
            await check_stored(backend.store, info.key, content_type, size)
        assert caught.value.code is ErrorCode.INVALID_ARGUMENT


# What the stores behind hubbub's own blob server promise besides (S3 takes uploads itself).
@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WritableStore]:
    yield MemoryBlobStore(SIGNER) if request.param == "memory" else LocalBlobStore(tmp_path / "media", SIGNER)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(store: WritableStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def put_code(store: WritableStore, info: BlobInfo, *parts: bytes) -> ErrorCode:
    with pytest.raises(HubbubError) as caught:
        await store.put(info, chunks(*parts))
    return caught.value.code


async def test_a_stored_object_reads_back_and_is_deleted_by_key(store: WritableStore) -> None:
    info = BlobInfo(new_key(1, "alice"), "image/png", 6)
    await store.put(info, chunks(b"abc", b"def"))
    assert await store.head(info.key) == info
    assert await read_all(store, info.key) == b"abcdef"
    assert await store.delete(info.key) is True
    assert await store.head(info.key) is None
    assert await store.delete(info.key) is False


async def test_a_key_takes_one_upload_only(store: WritableStore) -> None:
    info = BlobInfo(new_key(1, "alice"), "text/plain", 3)
    await store.put(info, chunks(b"one"))
    assert await put_code(store, info, b"two") is ErrorCode.CONFLICT
    assert await read_all(store, info.key) == b"one"


async def test_a_body_longer_or_shorter_than_declared_leaves_nothing(store: WritableStore) -> None:
    info = BlobInfo(new_key(1, "alice"), "text/plain", 4)
    assert await put_code(store, info, b"abc", b"de") is ErrorCode.TOO_LARGE
    assert await put_code(store, info, b"abc") is ErrorCode.INVALID_ARGUMENT
    assert await store.head(info.key) is None
    await store.put(info, chunks(b"abcd"))  # the failed attempts did not take the key
    assert await read_all(store, info.key) == b"abcd"


async def test_reading_an_absent_object_is_not_found(store: WritableStore) -> None:
    with pytest.raises(HubbubError) as caught:
        await read_all(store, new_key(1, "alice"))
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_the_local_store_keeps_no_partial_file_on_disk(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "media", SIGNER)
    info = BlobInfo(new_key(1, "alice"), "text/plain", 4)
    assert await put_code(store, info, b"abcdefgh") is ErrorCode.TOO_LARGE
    files = [path for path in store.root.rglob("*") if path.is_file()]
    assert files == []
