"""The object store behind attachments, as the rooms see it: signed URLs out, objects by key.

One backend per module in `media/` (local files, memory, S3); `deploy/` picks one. Clients
move the bytes themselves, straight to the store, through the URLs this interface signs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from kernel.errors import InvalidArgument, NotFound
from kernel.media_urls import UploadGrant


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored object, as described when its upload URL was granted."""

    key: str
    content_type: str
    size_bytes: int
    stored_at_ms: int = field(default=0, compare=False)
    """When the upload completed, as the store tells (0 = not told); not part of equality."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A listed object: its key, and when it was stored (what the unsent-upload sweep reads)."""

    key: str
    stored_at_ms: int


class UrlSigner(Protocol):
    """The half of a store the edge needs: URLs a client can use without hubbub in between."""

    def upload_url(self, grant: UploadGrant) -> str:
        """A URL that takes exactly one upload of `grant` (type, size) until it expires."""
        ...

    def download_url(self, key: str, now_ms: int) -> tuple[str, int]:
        """A short-lived URL that reads `key`, and when it expires (ms)."""
        ...


class BlobStore(UrlSigner, Protocol):
    async def head(self, key: str) -> BlobInfo | None:
        """The object under `key`, or None when nothing (complete) is stored there."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the object (a deleted message's, or a retention sweep's); False if absent."""
        ...


class ListedStore(BlobStore, Protocol):
    def stored_objects(self) -> AsyncIterator[StoredObject]:
        """Every complete object, in no promised order (media/sweep.py walks them)."""
        ...


async def check_stored(store: BlobStore, key: str, content_type: str, size_bytes: int) -> BlobInfo:
    """What a store that gives no receipt (S3) is asked before a message may point to `key`:
    the object is there, of the type and size its upload URL was granted for. NOT_FOUND when
    absent; INVALID_ARGUMENT when it is not what was granted."""
    info = await store.head(key)
    if info is None:
        raise NotFound("no object under that key (not uploaded yet, or removed)")
    if info.content_type != content_type or info.size_bytes != size_bytes:
        raise InvalidArgument(
            f"the object is {info.content_type}, {info.size_bytes} bytes; its upload URL was granted "
            f"for {content_type}, {size_bytes} bytes"
        )
    return info
