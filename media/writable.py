"""What the blob server writes into: a store that takes one upload per key, streamed.

The HTTP server counts the body against the grant; the store keeps it only when complete, and
refuses a second upload to a key that has one (an upload URL is single-use)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from kernel.blob_store import BlobInfo, ListedStore
from kernel.errors import InvalidArgument, TooLarge


class WritableStore(ListedStore, Protocol):
    async def put(self, info: BlobInfo, chunks: AsyncIterator[bytes]) -> None:
        """Store exactly `info.size_bytes` bytes under `info.key`; CONFLICT when the key is
        taken, TOO_LARGE / INVALID_ARGUMENT when the body is longer / shorter (nothing kept)."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes, in chunks (NOT_FOUND when absent)."""
        ...


async def counted(chunks: AsyncIterator[bytes], size_bytes: int) -> AsyncIterator[bytes]:
    """`chunks` as they come, refused the moment they pass `size_bytes` or end short of it."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > size_bytes:
            raise TooLarge(f"the body is longer than the {size_bytes} bytes declared")
        yield chunk
    if total < size_bytes:
        raise InvalidArgument(f"the body ended after {total} of the {size_bytes} bytes declared")
