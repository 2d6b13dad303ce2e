"""Per-conversation sync state of one device, sans-I/O: messages in, (deliver, fetch, ack) out.

It never awaits, sends or reads a clock: the I/O layer feeds frames with `now` and carries out
what comes back, so ordering, dedupe, gap filling and ack batching are tested without sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

# Never hold more than this many out-of-order messages per conversation; the rest are fetched later.
MAX_BUFFERED = 10_000


class Sequenced(Protocol):
    """What the state needs from a message: where it belongs and its gap-free number."""

    @property
    def conversation_id(self) -> int: ...

    @property
    def seq(self) -> int: ...


M = TypeVar("M", bound=Sequenced)


@dataclass(frozen=True)
class FetchRequest:
    """Ask the server for the messages of `conversation_id` with seq > `after_seq`."""

    conversation_id: int
    after_seq: int


@dataclass
class SyncResult(Generic[M]):
    """What the I/O layer must do: hand `deliver` to the app in order, send `fetch` requests."""

    deliver: list[M] = field(default_factory=list)
    fetch: list[FetchRequest] = field(default_factory=list)
    duplicates: int = 0
    skipped: int = 0  # seqs given up on (the server had no such messages)


@dataclass
class _Conversation(Generic[M]):
    last_seq: int | None  # highest contiguous seq delivered; None = no baseline yet
    buffered: dict[int, M] = field(default_factory=dict)
    fetching: bool = False


@dataclass(frozen=True)
class AckPolicy:
    """Delivery acks go out at most every `interval_ms`, or sooner once `max_messages` piled up."""

    interval_ms: int = 200
    max_messages: int = 100


class SyncState(Generic[M]):
    """Delivery state of one device across all its conversations.

    Rules: a seq at or below the contiguous cursor, or already buffered, is a duplicate and
    dropped; a seq beyond cursor+1 is buffered and the missing range fetched (AFTER cursor);
    buffered messages are delivered as soon as the range is contiguous. A conversation the
    device has no cursor for adopts the first message it sees as its start, except while a
    Resume is in flight: then pushes wait, so the resume pages (which start at the server's
    delivered cursor) set the baseline and nothing they carry is mistaken for a duplicate.
    """

    def __init__(self, policy: AckPolicy | None = None, cursors: Iterable[tuple[int, int]] = ()) -> None:
        self.policy = policy or AckPolicy()
        self._convs: dict[int, _Conversation[M]] = {}
        for conversation_id, seq in cursors:
            self.set_cursor(conversation_id, seq)
        self._resuming = False
        self._ack_due: dict[int, int] = {}  # conversation -> highest contiguous seq not yet acked
        self._ack_count = 0
        self._ack_since: float | None = None

    # ------------------------------------------------------------------ cursors

    def set_cursor(self, conversation_id: int, seq: int) -> None:
        """Declare that everything up to `seq` is already held (e.g. restored from disk)."""
        conv = self._convs.setdefault(conversation_id, _Conversation(last_seq=None))
        if conv.last_seq is None or seq > conv.last_seq:
            conv.last_seq = seq
            for stale in [s for s in conv.buffered if s <= seq]:
                del conv.buffered[stale]

    def cursor(self, conversation_id: int) -> int | None:
        conv = self._convs.get(conversation_id)
        return None if conv is None else conv.last_seq

    def resume_cursors(self) -> list[tuple[int, int]]:
        """The (conversation, last contiguous seq) pairs to send in a Resume after (re)connecting."""
        return sorted((cid, c.last_seq) for cid, c in self._convs.items() if c.last_seq is not None)

    def buffered_count(self, conversation_id: int) -> int:
        conv = self._convs.get(conversation_id)
        return 0 if conv is None else len(conv.buffered)

    # ------------------------------------------------------------------ connection lifecycle

    def on_disconnect(self) -> None:
        """Outstanding fetches died with the connection; the Resume after reconnect re-asks."""
        for conv in self._convs.values():
            conv.fetching = False

    def begin_resume(self) -> None:
        self._resuming = True

    def end_resume(self, now: float) -> SyncResult[M]:
        """The Resume is answered: conversations still without a baseline start at what they buffered."""
        self._resuming = False
        result: SyncResult[M] = SyncResult()
        for cid, conv in self._convs.items():
            if conv.last_seq is None and conv.buffered:
                conv.last_seq = min(conv.buffered) - 1
                self._drain(cid, conv, result, now)
            self._want_fetch(cid, conv, result)
        return result

    # ------------------------------------------------------------------ messages in

    def on_message(self, message: M, now: float) -> SyncResult[M]:
        """A pushed message. Returns what became deliverable and any fetch to fill a gap."""
        result: SyncResult[M] = SyncResult()
        conv = self._accept(message, result, now)
        if conv is not None:
            self._want_fetch(message.conversation_id, conv, result)
        return result

    def on_page(
        self,
        conversation_id: int,
        messages: Iterable[M],
        has_more: bool,
        now: float,
        *,
        answers_fetch: bool = True,
    ) -> SyncResult[M]:
        """A HistoryPage (AFTER some seq) answering our fetch, or one of the pages of a Resume.

        When a fetch brought no progress while a gap remains, the missing seqs do not exist on
        the server: the state skips them rather than asking forever.
        """
        result: SyncResult[M] = SyncResult()
        conv = self._convs.setdefault(conversation_id, _Conversation(last_seq=None))
        before = conv.last_seq
        if answers_fetch:
            conv.fetching = False
        for message in messages:
            if message.conversation_id == conversation_id:
                self._accept(message, result, now, from_page=True)
        progressed = conv.last_seq != before
        if answers_fetch and not progressed and conv.buffered and conv.last_seq is not None:
            first = min(conv.buffered)
            result.skipped += first - conv.last_seq - 1
            conv.last_seq = first - 1
            self._drain(conversation_id, conv, result, now)
        if has_more and conv.last_seq is not None and not conv.fetching and (progressed or not answers_fetch):
            conv.fetching = True
            result.fetch.append(FetchRequest(conversation_id, conv.last_seq))
        else:
            self._want_fetch(conversation_id, conv, result)
        return result

    def _accept(
        self, message: M, result: SyncResult[M], now: float, *, from_page: bool = False
    ) -> _Conversation[M] | None:
        cid, seq = message.conversation_id, message.seq
        conv = self._convs.get(cid)
        if conv is None:
            conv = self._convs[cid] = _Conversation(last_seq=None)
        if conv.last_seq is None:
            if self._resuming and not from_page:
                if seq not in conv.buffered and len(conv.buffered) < MAX_BUFFERED:
                    conv.buffered[seq] = message
                return None
            conv.last_seq = min([seq, *conv.buffered]) - 1
        if seq <= conv.last_seq or seq in conv.buffered:
            result.duplicates += 1
            return conv
        if seq == conv.last_seq + 1:
            result.deliver.append(message)
            conv.last_seq = seq
            self._drain(cid, conv, result, now, delivered=1)
        elif len(conv.buffered) < MAX_BUFFERED:
            conv.buffered[seq] = message
        return conv

    def _drain(
        self, cid: int, conv: _Conversation[M], result: SyncResult[M], now: float, delivered: int = 0
    ) -> None:
        assert conv.last_seq is not None
        while (nxt := conv.buffered.pop(conv.last_seq + 1, None)) is not None:
            result.deliver.append(nxt)
            conv.last_seq += 1
            delivered += 1
        for stale in [s for s in conv.buffered if s <= conv.last_seq]:
            del conv.buffered[stale]
        if delivered:
            self._note_ack(cid, conv.last_seq, delivered, now)

    def _want_fetch(self, cid: int, conv: _Conversation[M], result: SyncResult[M]) -> None:
        if conv.buffered and not conv.fetching and conv.last_seq is not None and not self._resuming:
            conv.fetching = True
            result.fetch.append(FetchRequest(cid, conv.last_seq))

    # ------------------------------------------------------------------ delivery acks

    def _note_ack(self, cid: int, seq: int, count: int, now: float) -> None:
        if seq > self._ack_due.get(cid, 0):
            self._ack_due[cid] = seq
        self._ack_count += count
        if self._ack_since is None:
            self._ack_since = now

    def next_ack_at(self) -> float | None:
        """When the pending acks fall due (same unit as `now`, seconds), or None if none pend."""
        if self._ack_since is None:
            return None
        return self._ack_since + self.policy.interval_ms / 1000

    def due_acks(self, now: float) -> list[tuple[int, int]]:
        """The cursors to send in one AckDelivered if the batch is due, else []."""
        if self._ack_since is None:
            return []
        if (
            self._ack_count >= self.policy.max_messages
            or now >= self._ack_since + self.policy.interval_ms / 1000
        ):
            return self.take_acks()
        return []

    def take_acks(self) -> list[tuple[int, int]]:
        """Every pending ack, due or not (before a Goodbye)."""
        acks = sorted(self._ack_due.items())
        self._ack_due.clear()
        self._ack_count = 0
        self._ack_since = None
        return acks
