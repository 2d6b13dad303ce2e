"""One contract for every blob store backend: the local file store keeps what memory keeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kernel.blob_store import BlobInfo
from kernel.errors import ErrorCode, HubbubError
from kernel.media_urls import SignedUrls, new_key
from media import LocalBlobStore, MemoryBlobStore
from media.writable import WritableStore

SIGNER = SignedUrls("http://blobs.test", "test-secret")


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
