"""The in-memory blob store: the contract suite's reference sibling of the local file store."""

from __future__ import annotations

from collections.abc import AsyncIterator

from kernel.blob_store import BlobInfo, StoredObject
from kernel.clock import Clock, SystemClock
from kernel.errors import Conflict, NotFound
from kernel.media_urls import SignedUrls, UploadGrant
from media.writable import counted


class MemoryBlobStore:
    def __init__(self, signer: SignedUrls, clock: Clock | None = None) -> None:
        self._signer = signer
        self._clock = clock or SystemClock()
        self._objects: dict[str, tuple[BlobInfo, bytes, int]] = {}

    def upload_url(self, grant: UploadGrant) -> str:
        return self._signer.upload_url(grant)

    def download_url(self, key: str, now_ms: int) -> tuple[str, int]:
        return self._signer.download_url(key, now_ms)

    async def head(self, key: str) -> BlobInfo | None:
        stored = self._objects.get(key)
        if stored is None:
            return None
        info, _, stored_at_ms = stored
        return BlobInfo(info.key, info.content_type, info.size_bytes, stored_at_ms)

    async def delete(self, key: str) -> bool:
        return self._objects.pop(key, None) is not None

    async def put(self, info: BlobInfo, chunks: AsyncIterator[bytes]) -> None:
        if info.key in self._objects:
            raise Conflict("an object was uploaded to this key already")
        data = b"".join([chunk async for chunk in counted(chunks, info.size_bytes)])
        if info.key in self._objects:  # another upload finished while this one streamed
            raise Conflict("an object was uploaded to this key already")
        self._objects[info.key] = (info, data, self._clock.now_ms())

    async def read(self, key: str) -> AsyncIterator[bytes]:
        stored = self._objects.get(key)
        if stored is None:
            raise NotFound("no such object")
        yield stored[1]

    async def stored_objects(self) -> AsyncIterator[StoredObject]:
        for info, _, stored_at_ms in list(self._objects.values()):
            yield StoredObject(info.key, stored_at_ms)
