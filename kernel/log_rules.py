"""The owner's rules for a message log, as pure functions: numbering, dedupe, cursors, fencing.

Whoever appends to a partition's log applies these (today the messaging store's append path,
inside its one transaction; the partition-owning router in the next step). A log backend only
stores and fetches: rows at given seqs with their writer's epoch, a dedupe lookup, the last
seq, the seal of a partition. No messaging imports: the router uses this module too.

- Seqs are gap-free per conversation: a new message takes last seq + 1, in input order.
- (sender, client_msg_id) is stored once: a repeat, stored before or earlier in the same
  batch, takes no seq and is answered with the original.
- Cursors only move forward; reading up to N implies delivered up to N.
- Fencing: each partition keeps the highest epoch sealed; a write of an older epoch is
  refused, epoch 0 passes only a never-sealed partition, and at any seq the row of the
  highest epoch is the message (docs/architecture.md, "The message log, epochs and fencing").
- Visibility, for a store that cannot refuse a stale write (no conditional writes): a new
  owner fences a conversation (its epoch and the last seq it read) before it writes there;
  a row of an older epoch above that last seq is hidden from every reader (`visible`).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class Numbering(NamedTuple):
    """`seqs[i]`: the new seq of item i, or 0 when it repeats a stored message or an earlier
    item of the batch. `last_seqs`: the batch's conversations' last seqs afterwards."""

    seqs: list[int]
    last_seqs: dict[int, int]


def number(items: Sequence[tuple[int, K]], last_seqs: Mapping[int, int], stored: Collection[K]) -> Numbering:
    """Seqs for a batch of (conversation_id, dedupe key) items, in order. `last_seqs` must
    hold every conversation of the batch; `stored` holds the dedupe keys already in the log
    (an owner that has not read them may pass those it knows, and must then detect a repeat
    it missed when the log refuses the row: see messaging/store/sqlite_append.py)."""
    after = {cid: last_seqs[cid] for cid, _ in items}
    seen: set[K] = set()
    seqs: list[int] = []
    for cid, key in items:
        if key in seen or key in stored:
            seqs.append(0)
            continue
        seen.add(key)
        seq = after[cid] + 1
        after[cid] = seq
        seqs.append(seq)
    return Numbering(seqs, after)


def advance_cursor(delivered: int, read: int, *, is_read: bool, seq: int) -> tuple[int, int, bool]:
    """(delivered, read, moved) after one cursor update. Monotonic: a lower or equal seq
    leaves the cursor unchanged; reading up to N implies delivered up to N."""
    if is_read:
        if seq > read:
            return max(delivered, seq), seq, True
        return delivered, read, False
    if seq > delivered:
        return seq, read, True
    return delivered, read, False


# ------------------------------------------------------------------------- fencing


def admits(sealed_epoch: int, writer_epoch: int) -> bool:
    """Whether a write of `writer_epoch` may go into a partition sealed at `sealed_epoch`
    (0 = never sealed). Epoch 0 (unfenced) passes only a never-sealed partition."""
    return writer_epoch >= sealed_epoch


def seal(sealed_epoch: int, epoch: int) -> tuple[int, bool]:
    """(new sealed epoch, refused): a seal raises the partition's epoch, never lowers it;
    sealing at the current epoch again is a no-op. `refused`: a higher epoch was sealed
    already, so the caller is a stale owner."""
    return max(sealed_epoch, epoch), epoch < sealed_epoch


class Versioned(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def epoch(self) -> int: ...


V = TypeVar("V", bound=Versioned)


def winners(rows: Iterable[V]) -> list[V]:
    """At each seq, the row of the highest epoch (what every reader sees), in seq order. A
    stale owner's row at a seq a newer owner also wrote is hidden, never merged."""
    best: dict[int, V] = {}
    for row in rows:
        current = best.get(row.seq)
        if current is None or row.epoch > current.epoch:
            best[row.seq] = row
    return [best[seq] for seq in sorted(best)]


class Fence(NamedTuple):
    """A new owner's mark on one conversation, written before its first row there: its epoch
    and the last seq it read. Rows of older epochs above `last_seq` were never acked."""

    epoch: int
    last_seq: int


def fenced_off(seq: int, epoch: int, fences: Iterable[Fence]) -> bool:
    """Whether a row of `epoch` at `seq` is hidden: a fence of a higher epoch was set when the
    log ended below `seq`, so the row is a stale owner's late write, never acked."""
    return any(fence.epoch > epoch and seq > fence.last_seq for fence in fences)


def visible(rows: Iterable[V], fences: Sequence[Fence]) -> list[V]:
    """What every reader sees of a conversation's rows (history, resume, last seq, unread and
    dedupe alike): the `winners` among the rows no fence hides, in seq order. With no fences
    (a store that refuses stale writes outright) this is `winners`."""
    if not fences:
        return winners(rows)
    return winners(row for row in rows if not fenced_off(row.seq, row.epoch, fences))


def last_seq_of(rows: Iterable[Versioned]) -> int:
    """The last seq of a log given its rows (0 when empty): the highest seq of any epoch."""
    return max((row.seq for row in rows), default=0)
