"""The object store behind attachments, as the rooms see it: signed URLs out, objects by key.

One backend per module in `media/` (the local file store today); `deploy/` picks one. Clients
move the bytes themselves, straight to the store, through the URLs this interface signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kernel.media_urls import UploadGrant


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored object, as described when its upload URL was granted."""

    key: str
    content_type: str
    size_bytes: int


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
