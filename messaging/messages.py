"""Messages and cursors: batched appends with per-item results, history pages, resume after
reconnect, delivered/read cursors and read-by. Membership comes from the in-process cache."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kernel.clock import Clock
from kernel.errors import (
    ErrorCode,
    HubbubError,
    Internal,
    InvalidArgument,
    NotMember,
    PartitionMismatch,
    StaleOwner,
)
from kernel.ids import SnowflakeGenerator
from kernel.limits import (
    MAX_ID,
    MAX_REPLY_PAGE_BYTES,
    MAX_RESUME_PAGES,
    MAX_RESUME_REPLY_BYTES,
    RESUME_MAX_CONVERSATIONS,
)
from kernel.partitions import DEFAULT_PARTITIONS
from messaging import deletion, rules
from messaging.erased_media import BlobRemover, ErasedMedia
from messaging.membership import MemberCache, MemberSet
from messaging.model import AppendOutcome, CursorChange, CursorUpdate, NewMessage, StoredMessage
from messaging.store.interface import CursorStore, HistoryDirection, MessageLog

log = logging.getLogger(__name__)

# A user's conversations scanned by one resume. Listing pages by activity time cannot page
# through ties safely, so resume reads one large page instead.
_LAST_SEQ_CACHE_SIZE = 100_000


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
class Page:
    """Messages in the order asked. `anchor_first`: messages[0] is the one nearest the
    anchor, so a page cut short (by bytes, messaging/convert.py) keeps that end."""

    conversation_id: int
    messages: list[StoredMessage]
    has_more: bool
    anchor_first: bool = True


@dataclass(frozen=True, slots=True)
class CursorOutcome:
    update: CursorUpdate
    change: CursorChange | None
    error: HubbubError | None


@dataclass(frozen=True, slots=True)
class ReadBy:
    conversation_id: int
    seq: int
    read_by: list[str]
    delivered_to: list[str]


class Messages:
    def __init__(
        self,
        log: MessageLog,
        cursors: CursorStore,
        ids: SnowflakeGenerator,
        clock: Clock,
        members: MemberCache,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        blobs: BlobRemover | None = None,
    ) -> None:
        self._log = log
        self._erased_media = ErasedMedia(blobs)
        self._cursors = cursors
        self._partitions = partitions
        self._ids = ids
        self._clock = clock
        self._members = members
        # A lower bound of each conversation's last seq (it only grows), so most cursor
        # updates are clamped without asking the store.
        self._last_seq: dict[int, int] = {}

    # -------------------------------------------------------------------- append
    async def append(self, items: Sequence[SendItem]) -> list[AppendOutcome | HubbubError]:
        """One result per item, in order. Invalid items and non-members get their error; the
        rest are stored in one store call (one durable commit). Retries get the original."""
        member_sets = await self._members.get_many(
            {item.conversation_id for item in items if _valid_id(item.conversation_id)}
        )
        results: list[AppendOutcome | HubbubError | None] = [None] * len(items)
        batch: list[NewMessage] = []
        slots: list[int] = []
        now = self._clock.now_ms()
        next_id = self._ids.next_id
        validate = rules.validate_send
        # A deletion names its message by seq: read them all first (deletions are rare).
        targets, entries = await self._deletable(items)
        for index, item in enumerate(items):
            try:
                if not _valid_id(item.conversation_id):
                    raise InvalidArgument(f"conversationId out of range (at most {MAX_ID})")
                if item.delete_seq:
                    if not 0 < item.delete_seq <= MAX_ID:
                        raise InvalidArgument(f"seq must be 1..{MAX_ID}")
                else:
                    validate(item.client_msg_id, item.content_type, item.body, item.payload, item.media)
            except HubbubError as exc:
                results[index] = exc
                continue
            member_set = member_sets[item.conversation_id]
            if isinstance(member_set, HubbubError) or item.sender_id not in member_set.members:
                results[index] = _membership_error(member_set, item.sender_id)
                continue
            if item.delete_seq:
                target = targets.get(index)
                try:
                    deletion.check_deletion(target, item.delete_seq, item.sender_id)
                except HubbubError as exc:
                    results[index] = exc
                    continue
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
                slots.append(index)
                continue
            batch.append(
                NewMessage(
                    item.conversation_id, item.sender_id, item.sender_device, item.client_msg_id,
                    item.content_type, item.body, item.payload, next_id(), now, item.owner_epoch,
                    item.media,
                )
            )  # fmt: skip
            slots.append(index)
        if batch:
            outcomes = await self._store_messages(batch)
            last_seq = self._last_seq
            for index, outcome in zip(slots, outcomes, strict=True):
                results[index] = outcome
                if isinstance(outcome, HubbubError):
                    continue
                message = outcome.message
                if message.seq > last_seq.get(message.conversation_id, 0):
                    self._saw_seq(message.conversation_id, message.seq)
                target = targets.get(index)
                if target is not None and not outcome.duplicate:
                    await self._erased_media.remove(target)
        return [r for r in results if r is not None]

    async def _deletable(
        self, items: Sequence[SendItem]
    ) -> tuple[dict[int, StoredMessage], dict[int, StoredMessage]]:
        """Item index -> the message its deletion names, as every reader sees it (absent: no
        message at that seq, or not a deletion item); and, for those deleted already, -> their
        deletion entry (absent: an erase whose entry was lost, messaging/deletion.is_entry_of)."""
        wanted = [
            (index, item.conversation_id, item.delete_seq) for index, item in enumerate(items)
            if item.delete_seq and _valid_id(item.conversation_id) and 0 < item.delete_seq <= MAX_ID
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
        """One store call (one durable commit) for the batch. Should it fail, each message is
        stored on its own, in order, so a message the store cannot take fails only itself."""
        try:
            return list(await self._log.append(batch))
        except StaleOwner as exc:  # some item's epoch is older than its partition's seal
            if len(batch) == 1:
                return [exc]
            stale = True
        except Exception as exc:  # noqa: BLE001 - isolated below, item by item
            if len(batch) == 1 or _store_down(exc):
                return [_store_error(exc)] * len(batch)
            stale = False
        if stale:
            return await self._store_each_at_once(batch)
        outcomes: list[AppendOutcome | HubbubError] = []
        for message in batch:
            try:
                (outcome,) = await self._log.append([message])
            except Exception as exc:  # noqa: BLE001 - this message's error, not its neighbours'
                outcomes.append(_store_error(exc))
            else:
                outcomes.append(outcome)
        return outcomes

    async def _store_each_at_once(self, batch: list[NewMessage]) -> list[AppendOutcome | HubbubError]:
        """Each message in a store call of its own, all submitted at once and in order: the
        store commits them together (group commit) and a stale item fails only itself."""
        settled = await asyncio.gather(*(self._log.append([m]) for m in batch), return_exceptions=True)
        outcomes: list[AppendOutcome | HubbubError] = []
        for result in settled:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                outcomes.append(_store_error(result))
            else:
                outcomes.append(result[0])
        return outcomes

    def _saw_seq(self, conversation_id: int, seq: int) -> None:
        if seq > self._last_seq.get(conversation_id, 0):
            if len(self._last_seq) >= _LAST_SEQ_CACHE_SIZE and conversation_id not in self._last_seq:
                self._last_seq.clear()
            self._last_seq[conversation_id] = seq

    # ------------------------------------------------------------------- fencing
    async def seal(
        self, partitions: Sequence[tuple[int, int]], partition_count: int
    ) -> list[tuple[int, int]]:
        """A new owner seals its partitions at its epoch before it writes: from then on Append
        items of an older epoch for them fail STALE_OWNER. Returns the (partition, epoch)
        pairs sealed already at a higher epoch (the caller is stale there). Durable on return.

        `partition_count` is the caller's P: a router that counts partitions differently
        would seal (and later write) other conversations' partitions than it believes, so it
        is refused PARTITION_MISMATCH, before anything is sealed."""
        if partition_count != self._partitions:
            raise PartitionMismatch(
                f"the router has {partition_count} partitions, the store {self._partitions}: "
                "give both the same `partitions` option"
            )
        for partition, epoch in partitions:
            if not 0 <= partition < self._partitions:
                raise InvalidArgument(f"partition must be in 0..{self._partitions - 1}")
            if not 0 <= epoch <= 2**64 - 1:
                raise InvalidArgument("epoch out of range")
        return await self._log.seal(partitions)

    # ------------------------------------------------------------------- history
    async def history(
        self,
        user_id: str,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
    ) -> Page:
        """Up to `limit` messages nearest the anchor ("before": seq < anchor, anchor 0 = from
        the newest; "after": seq > anchor), in the order asked. The limit is 1..100, 0 means 50
        and larger values are clamped to 100; `has_more` says whether to page on."""
        await self._members.require_member(conversation_id, user_id)
        if anchor_seq < 0:
            raise InvalidArgument("anchorSeq must not be negative")
        return await self._page(conversation_id, anchor_seq, direction, rules.page_limit(limit), newest_first)

    async def _page(
        self,
        conversation_id: int,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
    ) -> Page:
        # One extra row answers has_more; it is the one farthest from the anchor. The store
        # stops near the byte budget too (one row past it), and convert cuts the page exactly.
        rows = await self._log.history(
            conversation_id,
            anchor_seq=anchor_seq,
            direction=direction,
            limit=limit + 1,
            newest_first=newest_first,
            max_bytes=MAX_REPLY_PAGE_BYTES,
        )
        has_more = len(rows) > limit
        farthest_is_last = newest_first == (direction == "before")
        if has_more:
            rows = rows[:limit] if farthest_is_last else rows[1:]
        return Page(conversation_id, rows, has_more, anchor_first=farthest_is_last)

    async def resume(self, user_id: str, device_cursors: Mapping[int, int], limit: int) -> list[Page]:
        """What a reconnecting device missed: for each of the user's conversations with newer
        messages, those after the device's last seq (or, when it sent none, after the user's
        delivered cursor), oldest first, up to `limit` each (0 = 100, at most 100). Pages past
        the reply's byte or page budget come back empty (has_more), for convert to leave out."""
        limit = rules.resume_limit(limit)
        # One store round trip for the whole resume (a reconnect storm sends thousands); one
        # extra row per conversation answers has_more. Past the reply's byte or page budget
        # the store lists conversations without their messages (empty pages, has_more):
        # convert leaves them out of the reply and says it has more.
        missed = await self._log.missed_messages(
            user_id,
            device_cursors,
            limit + 1,
            RESUME_MAX_CONVERSATIONS,
            max_bytes=MAX_RESUME_REPLY_BYTES,
            max_pages=MAX_RESUME_PAGES,
        )
        return [Page(cid, rows[:limit], len(rows) > limit or not rows) for cid, rows in missed]

    # ------------------------------------------------------------------- cursors
    async def update_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorOutcome]:
        """Per-update results, in order: non-members get NOT_MEMBER and nothing moves; seqs
        past the last message are clamped to it; lower seqs leave the cursor as it is."""
        member_sets = await self._members.get_many(
            u.conversation_id for u in updates if _valid_id(u.conversation_id)
        )
        errors: list[HubbubError | None] = []
        for update in updates:
            refused: HubbubError | None
            if not _valid_id(update.conversation_id):
                refused = InvalidArgument(f"conversationId out of range (at most {MAX_ID})")
            elif not 0 <= update.seq <= MAX_ID:
                refused = InvalidArgument(f"seq must be 0..{MAX_ID}")
            else:
                refused = _membership_error(member_sets[update.conversation_id], update.user_id)
            errors.append(refused)
        valid = [u for u, e in zip(updates, errors, strict=True) if e is None]
        unknown = [u.conversation_id for u in valid if u.seq > self._last_seq.get(u.conversation_id, 0)]
        if unknown:
            await self._refresh_last_seq(unknown)
        clamped = [
            dataclasses.replace(u, seq=rules.clamp_cursor(u.seq, self._last_seq.get(u.conversation_id, 0)))
            for u in valid
        ]
        changes = iter(await self._advance(clamped) if clamped else [])
        outcomes: list[CursorOutcome] = []
        for update, error in zip(updates, errors, strict=True):
            if error is not None:
                outcomes.append(CursorOutcome(update, None, error))
                continue
            change = next(changes)
            if isinstance(change, HubbubError):
                outcomes.append(CursorOutcome(update, None, change))
            else:
                outcomes.append(CursorOutcome(update, change, None))
        return outcomes

    async def _advance(self, updates: list[CursorUpdate]) -> list[CursorChange | HubbubError]:
        """One store call for the batch; should it fail, each update on its own, in order."""
        try:
            return list(await self._cursors.advance_cursors(updates))
        except Exception as exc:  # noqa: BLE001 - isolated below, item by item
            if len(updates) == 1 or _store_down(exc):
                return [_store_error(exc)] * len(updates)
        changes: list[CursorChange | HubbubError] = []
        for update in updates:
            try:
                (change,) = await self._cursors.advance_cursors([update])
            except Exception as exc:  # noqa: BLE001 - this update's error, not its neighbours'
                changes.append(_store_error(exc))
            else:
                changes.append(change)
        return changes

    async def _refresh_last_seq(self, conversation_ids: Iterable[int]) -> None:
        cids = list(dict.fromkeys(conversation_ids))
        seqs = await asyncio.gather(*(self._log.last_seq(cid) for cid in cids))
        for cid, seq in zip(cids, seqs, strict=True):
            self._saw_seq(cid, seq)

    async def read_by(self, user_id: str, conversation_id: int, seq: int) -> ReadBy:
        """Members (other than the sender) who have read message `seq`, and those it reached
        but who have not read it yet."""
        current = await self._members.require_member(conversation_id, user_id)
        if seq < 1:
            raise InvalidArgument("seq must be at least 1")
        found = await self._log.history(
            conversation_id, anchor_seq=seq - 1, direction="after", limit=1, newest_first=False
        )
        sender = found[0].sender_id if found and found[0].seq == seq else ""
        read_by: list[str] = []
        delivered_to: list[str] = []
        for cursors in await self._cursors.all_cursors(conversation_id):
            if cursors.user_id == sender or cursors.user_id not in current.members:
                continue
            if cursors.read_seq >= seq:
                read_by.append(cursors.user_id)
            elif cursors.delivered_seq >= seq:
                delivered_to.append(cursors.user_id)
        return ReadBy(conversation_id, seq, sorted(read_by), sorted(delivered_to))


def _valid_id(value: int) -> bool:
    """Ids are signed 64-bit in every store: the edge refuses the rest (and 0), this is the
    backstop that keeps one such id from failing the store call of its whole batch."""
    return -MAX_ID - 1 <= value <= MAX_ID and value != 0


def _store_down(exc: Exception) -> bool:
    """Not worth retrying item by item: the store refuses everything alike."""
    return isinstance(exc, HubbubError) and exc.code is ErrorCode.UNAVAILABLE


def _store_error(exc: Exception) -> HubbubError:
    if isinstance(exc, HubbubError):
        return exc
    log.error("store write failed", exc_info=exc)
    error = Internal("store write failed")
    error.__cause__ = exc
    return error


def _membership_error(member_set: MemberSet | HubbubError, user_id: str) -> HubbubError | None:
    """Returned, not raised: one lookup error is shared by every item of its conversation."""
    if isinstance(member_set, HubbubError):
        return member_set
    if user_id not in member_set.members:
        return NotMember("you are not a member of this conversation")
    return None
