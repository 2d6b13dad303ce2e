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
    HubbubError,
    InvalidArgument,
    NotMember,
    PartitionMismatch,
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
from messaging import rules
from messaging.appends import Appender, SendItem, valid_id
from messaging.erased_media import BlobRemover, ErasedMedia
from messaging.media_guard import MediaGuard
from messaging.membership import MemberCache, MemberSet
from messaging.model import AppendOutcome, CursorChange, CursorUpdate, StoredMessage
from messaging.store.interface import CursorStore, HistoryDirection, MessageLog
from messaging.store_calls import isolated

log = logging.getLogger(__name__)

# A user's conversations scanned by one resume. Listing pages by activity time cannot page
# through ties safely, so resume reads one large page instead.
_LAST_SEQ_CACHE_SIZE = 100_000


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
        media = MediaGuard(clock) if blobs is not None else None  # one for both: media_guard.py
        self._erased_media = ErasedMedia(blobs, log, guard=media)
        self._cursors = cursors
        self._partitions = partitions
        self._appender = Appender(log, ids, clock, media)
        self._members = members
        # A lower bound of each conversation's last seq (it only grows), so most cursor
        # updates are clamped without asking the store.
        self._last_seq: dict[int, int] = {}

    # -------------------------------------------------------------------- append
    async def append(self, items: Sequence[SendItem]) -> list[AppendOutcome | HubbubError]:
        """One result per item, in order. Invalid items and non-members get their error; the
        rest are stored in one store call (one durable commit). Retries get the original."""
        member_sets = await self._members.get_many(
            {item.conversation_id for item in items if valid_id(item.conversation_id)}
        )
        refused = [
            _membership_error(member_sets[item.conversation_id], item.sender_id)
            if valid_id(item.conversation_id)
            else None  # the appender refuses it
            for item in items
        ]
        appended = await self._appender.append(items, refused)
        last_seq = self._last_seq
        for outcome in appended.results:
            if not isinstance(outcome, HubbubError):
                message = outcome.message
                if message.seq > last_seq.get(message.conversation_id, 0):
                    self._saw_seq(message.conversation_id, message.seq)
        await self._erased_media.remove_all(appended.erased)
        return appended.results

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
        return _missed_pages(missed, limit)

    async def resume_many(
        self, asks: Sequence[tuple[str, Mapping[int, int], int]], max_total_bytes: int
    ) -> list[list[Page]]:
        """`resume` of each (user_id, device cursors, limit), in order, in one store round trip;
        past `max_total_bytes` of messages read the rest are left out (a shorter answer; the
        first is always read)."""
        limits = [rules.resume_limit(limit) for _, _, limit in asks]
        answers = await self._log.missed_messages_many(
            [(user, cursors, limit + 1) for (user, cursors, _), limit in zip(asks, limits, strict=True)],
            RESUME_MAX_CONVERSATIONS,
            max_bytes=MAX_RESUME_REPLY_BYTES,
            max_pages=MAX_RESUME_PAGES,
            max_total_bytes=max_total_bytes,
        )
        return [_missed_pages(missed, limit) for limit, missed in zip(limits, answers, strict=False)]

    # ------------------------------------------------------------------- cursors
    async def update_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorOutcome]:
        """Per-update results, in order: non-members get NOT_MEMBER and nothing moves; seqs
        past the last message are clamped to it; lower seqs leave the cursor as it is."""
        member_sets = await self._members.get_many(
            u.conversation_id for u in updates if valid_id(u.conversation_id)
        )
        errors: list[HubbubError | None] = []
        for update in updates:
            refused: HubbubError | None
            if not valid_id(update.conversation_id):
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
        """One store call for the batch, else each update on its own, in order."""
        return await isolated(self._cursors.advance_cursors, updates)

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


def _membership_error(member_set: MemberSet | HubbubError, user_id: str) -> HubbubError | None:
    """Returned, not raised: one lookup error is shared by every item of its conversation."""
    if isinstance(member_set, HubbubError):
        return member_set
    if user_id not in member_set.members:
        return NotMember("you are not a member of this conversation")
    return None


def _missed_pages(missed: list[tuple[int, list[StoredMessage]]], limit: int) -> list[Page]:
    """A resume read (`limit` + 1 rows per conversation: the extra one answers has_more) as
    pages; the conversations past the reply's budgets come empty, for convert to leave out."""
    return [Page(cid, rows[:limit], len(rows) > limit or not rows) for cid, rows in missed]
