"""The objects of deleted messages' attachments, removed from the blob store once the deletion
is durable (before the deleter's answer), so a download URL handed out earlier answers 404.

After the commit, never before: a deletion that failed to store keeps its object. A crash in
between leaves the object without a message (a retention sweep's to remove, docs/media.md).
"""

from __future__ import annotations

import logging
from typing import Protocol

from google.protobuf.message import DecodeError

from messaging.model import StoredMessage
from protos.client_pb2 import MediaRef

log = logging.getLogger(__name__)


class BlobRemover(Protocol):
    """The one call messaging makes to the object store (kernel.blob_store.BlobStore has it)."""

    async def delete(self, key: str) -> bool: ...


class ErasedMedia:
    def __init__(self, blobs: BlobRemover | None) -> None:
        self._blobs = blobs

    async def remove(self, message: StoredMessage) -> None:
        """Remove the object `message` (as it was before its deletion) pointed to, if any. A
        store that fails is logged, not raised: the deletion itself is stored and stands."""
        if self._blobs is None or not message.media:
            return
        try:
            key = MediaRef.FromString(message.media).key
        except DecodeError:
            log.warning(
                "deleted message %d/%d had an unreadable media reference",
                message.conversation_id,
                message.seq,
            )
            return
        if not key:
            return
        try:
            await self._blobs.delete(key)
        except Exception:
            log.exception("could not remove the object of a deleted message (key %r)", key)
