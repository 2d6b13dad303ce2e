"""The embedded blob store: files under the node's data dir, one per object.

A file is named by the SHA-256 of its key (keys hold user ids, which may be `..`), beside a
small JSON description; a body is written to a temporary file and kept only when complete."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from kernel.blob_store import BlobInfo, StoredObject
from kernel.errors import Conflict, NotFound
from kernel.media_urls import SignedUrls, UploadGrant
from media.writable import counted

READ_CHUNK_BYTES = 64 * 1024


class LocalBlobStore:
    def __init__(self, root: Path, signer: SignedUrls) -> None:
        self.root = root
        self._signer = signer
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def upload_url(self, grant: UploadGrant) -> str:
        return self._signer.upload_url(grant)

    def download_url(self, key: str, now_ms: int) -> tuple[str, int]:
        return self._signer.download_url(key, now_ms)

    def _paths(self, key: str) -> tuple[Path, Path]:
        name = hashlib.sha256(key.encode()).hexdigest()
        folder = self.root / name[:2]
        return folder / name, folder / f"{name}.json"

    async def head(self, key: str) -> BlobInfo | None:
        data, meta = self._paths(key)
        try:
            described = json.loads(meta.read_bytes())
        except FileNotFoundError:
            return None
        try:
            stored_at_ms = data.stat().st_mtime_ns // 1_000_000  # the body moved in then
        except FileNotFoundError:  # described, its body still being moved in (or removed)
            return None
        return BlobInfo(key, described["content_type"], described["size_bytes"], stored_at_ms)

    async def delete(self, key: str) -> bool:
        data, meta = self._paths(key)
        found = data.exists()
        data.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        return found

    async def stored_objects(self) -> AsyncIterator[StoredObject]:
        for meta in self.root.glob("??/*.json"):
            data = meta.with_suffix("")
            try:
                key = json.loads(meta.read_bytes())["key"]
                stored_at_ms = data.stat().st_mtime_ns // 1_000_000  # the body moved in then
            except FileNotFoundError:
                continue  # removed meanwhile, or its body not moved in yet
            yield StoredObject(key, stored_at_ms)

    async def put(self, info: BlobInfo, chunks: AsyncIterator[bytes]) -> None:
        data, meta = self._paths(info.key)
        if meta.exists():
            raise Conflict("an object was uploaded to this key already")
        temp = self.root / "tmp" / secrets.token_hex(16)
        try:
            # Disk writes and the fsync run off the event loop: the blob server shares its
            # process with an edge, whose sockets must not stall behind a 100 MiB upload.
            with temp.open("wb") as out:
                async for chunk in counted(chunks, info.size_bytes):
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(_flush_and_sync, out)
            data.parent.mkdir(exist_ok=True)
            description = {"key": info.key, "content_type": info.content_type, "size_bytes": info.size_bytes}
            try:  # the description claims the key: of two uploads at once, one wins
                with meta.open("x") as described:
                    json.dump(description, described)
            except FileExistsError as exc:
                raise Conflict("an object was uploaded to this key already") from exc
            temp.replace(data)
        finally:
            temp.unlink(missing_ok=True)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        if await self.head(key) is None:
            raise NotFound("no such object")
        with self._paths(key)[0].open("rb") as source:
            while chunk := source.read(READ_CHUNK_BYTES):
                yield chunk


def _flush_and_sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
