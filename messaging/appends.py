"""The write half of an append, membership aside: each item validated, given a message id and
stored in one log call (one durable commit), a failing item isolated from its neighbours. A
deletion item (`delete_seq`) is checked against the message it names (messaging/deletion.py)
and stored as a deletion entry at a seq of its own, which erases that message.
Messaging's Append checks membership first (messaging/messages.py); a partition-owning router
that appends to the log itself checks it against its own member view (messaging/owner_append.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from kernel.clock import Clock
from kernel.errors import HubbubError, InvalidArgument, NotFound, StaleOwner
from kernel.ids import SnowflakeGenerator
from kernel.limits import MAX_ID
from kernel.media_urls import check_receipt_fresh
from messaging import deletion, rules
from messaging.media_guard import MediaGuard
from messaging.model import AppendOutcome, NewMessage, StoredMessage
from messaging.store.interface import MessageLog
from messaging.store_calls import isolated, settle_each
from protos.client_pb2 import MediaRef

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendItem:
    sender_id: str
    sender_device: str
    conversation_id: int
    client_msg_id: str
    content_type: str
    body: str
    payload: bytes
    owner_epoch: int = 0
    """The sending router's epoch for the conversation's partition (0 = unfenced)."""
    media: bytes = b""
    """A serialized MediaRef the edge checked (the sender's upload, for this conversation)."""
    delete_seq: int = 0
    """> 0: delete the sender's message at this seq (the content fields are then empty)."""


@dataclass(frozen=True, slots=True)
class Appended:
    """One result per item, in order; and the messages this call's deletions erased (whose
    attachments the caller may remove: messaging/erased_media.py)."""

    results: list[AppendOutcome | HubbubError]
    erased: list[StoredMessage] = field(default_factory=list)


class Appender:
    def __init__(
        self, log: MessageLog, ids: SnowflakeGenerator, clock: Clock, media: MediaGuard | None = None
    ) -> None:
        self._log = log
        self._ids = ids
        self._clock = clock
        self._media = media  # where a deletion's erased attachment is removed (None: nowhere)

    async def append(self, items: Sequence[SendItem], refused: Sequence[HubbubError | None]) -> Appended:
        """One result per item, in order: `refused[i]` (the caller's membership verdict) or
        the item's own validation error, else what the log stored (a retry: the original)."""
        results: list[AppendOutcome | HubbubError | None] = list(refused)
        batch: list[NewMessage] = []
        slots: list[int] = []
        now = self._clock.now_ms()
        next_id = self._ids.next_id
        validate = rules.validate_send
        # A deletion names its message by seq: read them all first (deletions are rare).
        targets, entries = await self._deletable(items, refused)
        new_only: dict[int, NotFound] = {}  # index -> refusal, unless dedupe finds an original
        attached: list[str] = []  # the upload keys the batch's sends attach
        for index, item in enumerate(items):
            if results[index] is not None:
                continue
            try:
                if not valid_id(item.conversation_id):
                    raise InvalidArgument(f"conversationId out of range (at most {MAX_ID})")
                if item.delete_seq:
                    if not 0 < item.delete_seq <= MAX_ID:
                        raise InvalidArgument(f"seq must be 1..{MAX_ID}")
                    deletion.check_deletion(targets.get(index), item.delete_seq, item.sender_id)
                else:
                    validate(item.client_msg_id, item.content_type, item.body, item.payload, item.media)
            except HubbubError as exc:
                results[index] = exc
                continue
            if item.media:
                try:
                    attached.append(self._attachable(item.media, now))
                except NotFound as exc:
                    new_only[index] = exc
                    continue
            if item.delete_seq:
                entry = entries.get(index)
                if entry is not None:  # deleted before: answered with its entry, nothing stored
                    results[index] = AppendOutcome(entry, duplicate=True)
                    continue
                batch.append(
                    NewMessage(
                        item.conversation_id, item.sender_id, item.sender_device,
                        deletion.deletion_key(item.conversation_id, item.delete_seq), "", "", b"",
                        next_id(), now, item.owner_epoch, deletes_seq=item.delete_seq,
                    )
                )  # fmt: skip
            else:
                batch.append(
                    NewMessage(
                        item.conversation_id, item.sender_id, item.sender_device, item.client_msg_id,
                        item.content_type, item.body, item.payload, next_id(), now, item.owner_epoch,
                        item.media,
                    )
                )  # fmt: skip
            slots.append(index)
        # Entered in the step that checked the keys (no await between): a removal waits for it.
        with self._media.attaching(attached) if self._media is not None else nullcontext():
            if new_only:
                await self._answer_retries(items, new_only, results)
            stored = await self._store_messages(batch) if batch else []
        erased: list[StoredMessage] = []
        if batch:
            for index, outcome in zip(slots, stored, strict=True):
                results[index] = outcome
                target = targets.get(index)
                if target is None or isinstance(outcome, HubbubError):
                    continue
                if not outcome.duplicate or not target.deleted:  # a repeat erased it only now
                    erased.append(target)
        return Appended([r for r in results if r is not None], erased)

    def _attachable(self, media: bytes, now_ms: int) -> str:
        """The key of the upload a send attaches; NOT_FOUND if a new message may not attach it
        now: its receipt is too old, or its object is being removed with a deleted message
        (messaging/media_guard.py)."""
        ref = media_ref(media)
        check_receipt_fresh(ref.receipt, now_ms)
        if self._media is not None and self._media.refused(ref.key):
            raise NotFound("that upload was removed with a deleted message: upload it again")
        return ref.key

    async def _answer_retries(
        self,
        items: Sequence[SendItem],
        refusals: dict[int, NotFound],
        results: list[AppendOutcome | HubbubError | None],
    ) -> None:
        """A send refused only by a check a new message must pass (an upload's receipt too old
        to attach) is answered with its original if it is a retry: dedupe answers first."""
        indexes = list(refusals)
        found = await settle_each(
            [self._log.original(items[i].sender_id, items[i].client_msg_id) for i in indexes]
        )
        for index, original in zip(indexes, found, strict=True):
            if isinstance(original, HubbubError):  # a failed lookup fails its own item, no other
                results[index] = original
            elif original is None:
                results[index] = refusals[index]
            else:
                results[index] = AppendOutcome(original, duplicate=True)

    async def _deletable(
        self, items: Sequence[SendItem], refused: Sequence[HubbubError | None]
    ) -> tuple[dict[int, StoredMessage], dict[int, StoredMessage]]:
        """Item index -> the message its deletion names, as every reader sees it (absent: no
        message at that seq, or not a deletion item); and, for those deleted already, -> their
        deletion entry (absent: an erase whose entry was lost, messaging/deletion.is_entry_of)."""
        wanted = [
            (index, item.conversation_id, item.delete_seq) for index, item in enumerate(items)
            if item.delete_seq and refused[index] is None and valid_id(item.conversation_id)
            and 0 < item.delete_seq <= MAX_ID
        ]  # fmt: skip
        targets = await self._messages_at(wanted)
        deleted = [(index, t.conversation_id, t.deleted_by_seq) for index, t in targets.items() if t.deleted]
        entries = await self._messages_at(deleted)
        return targets, {i: e for i, e in entries.items() if deletion.is_entry_of(e, targets[i])}

    async def _messages_at(self, wanted: Sequence[tuple[int, int, int]]) -> dict[int, StoredMessage]:
        """(key, conversation, seq) -> key: the message at that seq, where there is one."""
        if not wanted:
            return {}
        found = await asyncio.gather(
            *(
                self._log.history(cid, anchor_seq=seq - 1, direction="after", limit=1, newest_first=False)
                for _, cid, seq in wanted
            )
        )
        return {
            key: rows[0]
            for (key, _, seq), rows in zip(wanted, found, strict=True)
            if rows and rows[0].seq == seq
        }

    async def _store_messages(self, batch: list[NewMessage]) -> list[AppendOutcome | HubbubError]:
        """One store call (one durable commit) for the batch, else each message on its own, in
        order (messaging/store_calls.py); after a StaleOwner (some item's epoch is older than
        its partition's seal) all at once, so the store commits them together (group commit)
        and a stale item fails only itself."""
        return await isolated(self._log.append, batch, at_once=lambda exc: isinstance(exc, StaleOwner))


def media_ref(media: bytes) -> MediaRef:
    """A serialized MediaRef (the edge proved it: kernel.media_urls); empty if unreadable."""
    try:
        return MediaRef.FromString(media)
    except DecodeError:
        return MediaRef()


def valid_id(value: int) -> bool:
    """Ids are signed 64-bit in every store: the edge refuses the rest (and 0), this is the
    backstop that keeps one such id from failing the store call of its whole batch."""
    return -MAX_ID - 1 <= value <= MAX_ID and value != 0
