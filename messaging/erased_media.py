"""The objects of deleted messages' attachments, removed from the blob store once the deletion
is durable (before the deleter's answer), so a download URL handed out earlier answers 404.

After the commit, never before: a deletion that failed to store keeps its object. A crash in
between leaves the object without a message (a retention sweep's to remove, docs/media.md).

One upload may be attached to several messages (its sender may send its MediaRef again while
the receipt is good): the object is removed only when no other message points to it, else it
stays with them (and the sweep takes it once none does). A send attaching it while that is
decided is kept apart by messaging/media_guard.py: refused from the start of the search on,
or, already being stored, waited for and found by the search.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import DecodeError

from kernel.limits import MEDIA_CLOCK_SKEW_MS, MEDIA_RECEIPT_TTL_MS
from messaging.media_guard import MediaGuard
from messaging.model import StoredMessage
from messaging.store.interface import HistoryDirection, MessageLog
from protos.client_pb2 import MediaRef

log = logging.getLogger(__name__)

SCAN_PAGE = 100
"""Messages per history read while looking for other references."""
MAX_SCANNED = 2_000
"""Messages read around the deleted one at most; beyond, the object is kept (the sweep,
which reads references itself, removes it once nothing points to it)."""
REMOVE_TIMEOUT_S = 5.0
"""The longest an Append waits for its deletions' objects to go (every item of its batch waits
for its answer meanwhile): past it they are left to the sweep."""


class BlobRemover(Protocol):
    """The one call messaging makes to the object store (kernel.blob_store.BlobStore has it)."""

    async def delete(self, key: str) -> bool: ...


def media_key(media: bytes) -> str:
    """The object key a stored MediaRef names ('' when none or unreadable)."""
    if not media:
        return ""
    try:
        return MediaRef.FromString(media).key
    except DecodeError:
        return ""


class ErasedMedia:
    def __init__(
        self,
        blobs: BlobRemover | None,
        messages: MessageLog,
        *,
        guard: MediaGuard | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """`guard`: shared with the Appender of this process, which refuses new sends
        attaching an object being removed (messaging/media_guard.py)."""
        self._blobs = blobs
        self._log = messages
        self._guard = guard
        self._timeout_s = REMOVE_TIMEOUT_S if timeout_s is None else timeout_s

    async def remove_all(self, erased: Sequence[StoredMessage]) -> None:
        """`remove` each, together, for at most `timeout_s` (a store that hangs is logged and
        its objects left to the sweep, never a stall of the Append that erased them)."""
        if self._blobs is None or not erased:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                await asyncio.gather(*(self.remove(message) for message in erased))
        except TimeoutError:
            log.warning(
                "the objects of %d deleted messages not removed in time: left to the sweep", len(erased)
            )

    async def remove(self, message: StoredMessage) -> None:
        """Remove the object `message` (as it was before its deletion) pointed to, if any and
        if no other message points to it. A store that fails is logged, not raised: the
        deletion itself is stored and stands."""
        if self._blobs is None or not message.media:
            return
        key = media_key(message.media)
        if not key:
            log.warning(
                "deleted message %d/%d had an unreadable media reference",
                message.conversation_id,
                message.seq,
            )
            return
        guard = self._guard
        # No receipt for the key is good past this (it was uploaded before `message` was sent).
        attachable_until = message.sent_at_ms + MEDIA_RECEIPT_TTL_MS + MEDIA_CLOCK_SKEW_MS
        if guard is not None and not guard.remove(key, attachable_until):
            log.warning("too many objects being removed: the one of key %r is left to the sweep", key)
            return
        # Set before the delete is awaited: once the request may have reached the store the
        # object may be gone, so the mark stays (new sends may not attach it) even if the
        # delete then fails or is cancelled (remove_all's bound).
        delete_issued = False
        try:
            if guard is not None:
                await guard.settled(key)  # a send storing it now is found by the search below
            if await self._shared(message, key):
                return
            delete_issued = True
            await self._blobs.delete(key)
        except Exception:
            log.exception("could not remove the object of a deleted message (key %r)", key)
        finally:
            if guard is not None and not delete_issued:
                guard.keep(key)

    async def _shared(self, message: StoredMessage, key: str) -> bool:
        """Whether another message may point to `key` (True when too many messages lie in the
        window to tell). A send attaches an upload at most MEDIA_RECEIPT_TTL_MS after it was
        stored, and `message` was sent after it was: any other reference was sent within that
        long of `message`, before or after it."""
        window = MEDIA_RECEIPT_TTL_MS + MEDIA_CLOCK_SKEW_MS
        scanned = 0
        directions: tuple[HistoryDirection, HistoryDirection] = ("before", "after")
        for direction in directions:
            anchor = message.seq
            while True:
                page = await self._log.history(
                    message.conversation_id,
                    anchor_seq=anchor,
                    direction=direction,
                    limit=SCAN_PAGE,
                    newest_first=direction == "before",
                )
                if any(other.seq != message.seq and media_key(other.media) == key for other in page):
                    return True
                scanned += len(page)
                if len(page) < SCAN_PAGE or abs(page[-1].sent_at_ms - message.sent_at_ms) > window:
                    break  # the farthest one read is out of the window: no further can point
                if scanned >= MAX_SCANNED:
                    return True
                anchor = page[-1].seq
        return False
