"""Your own messages are never unread: the rule every store applies when it appends.

A sender's cursors move over a run of their own consecutive messages only when the cursor
already reached the run's start, so sending never marks someone else's message as read or
delivered (receipts stay explicit) and a caught-up sender stays caught up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from messaging.model import Cursors, StoredMessage


@dataclass(frozen=True, slots=True)
class OwnRun:
    """Seqs first..last of one conversation were all sent by `sender_id`."""

    conversation_id: int
    sender_id: str
    first: int
    last: int


def own_runs(new_messages: Iterable[StoredMessage]) -> list[OwnRun]:
    """Runs of consecutive seqs by one sender, in seq order per conversation."""
    runs: list[OwnRun] = []
    open_run: dict[int, int] = {}  # conversation -> index in runs of its latest run
    for m in sorted(new_messages, key=lambda m: (m.conversation_id, m.seq)):
        index = open_run.get(m.conversation_id)
        if index is not None:
            run = runs[index]
            if run.sender_id == m.sender_id and run.last == m.seq - 1:
                runs[index] = OwnRun(run.conversation_id, run.sender_id, run.first, m.seq)
                continue
        open_run[m.conversation_id] = len(runs)
        runs.append(OwnRun(m.conversation_id, m.sender_id, m.seq, m.seq))
    return runs


def advance_over_own(cursors: Cursors, run: OwnRun) -> Cursors:
    """Each cursor that had reached the run's start moves to its end."""
    delivered = run.last if cursors.delivered_seq >= run.first - 1 else cursors.delivered_seq
    read = run.last if cursors.read_seq >= run.first - 1 else cursors.read_seq
    return Cursors(
        cursors.user_id,
        cursors.conversation_id,
        max(cursors.delivered_seq, delivered),
        max(cursors.read_seq, read),
    )
