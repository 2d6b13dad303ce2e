"""How far a store reads messages for one reply: to the reply's byte budget and one row past
it, so the service (which cuts pages by their exact encoded size, messaging/convert.py) gets
every row that can fit and learns there is more, without loading 100 rows of 800 KB each."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from kernel.message_log import MissedAsk
from messaging.model import ConversationSummary, StoredMessage

T = TypeVar("T")


def size_lower_bound(message: StoredMessage) -> int:
    """Never more than the message's encoded size (a character is at least one UTF-8 byte), so
    stopping on it never leaves out a row that the exact cut would keep."""
    return len(message.body) + len(message.payload) + len(message.media)


def summary_lower_bound(summary: ConversationSummary) -> int:
    """A conversation-list row: its last message is what can be large."""
    return 0 if summary.last_message is None else size_lower_bound(summary.last_message)


Missed = list[tuple[int, list[StoredMessage]]]


async def missed_one_by_one(
    read: Callable[[str, Mapping[int, int], int, int, int, int], Awaitable[Missed]],
    asks: Sequence[MissedAsk],
    max_conversations: int,
    max_bytes: int,
    max_pages: int,
    max_total_bytes: int,
) -> list[Missed]:
    """missed_messages_many for a log that reads each resume on its own (`read` is its
    missed_messages): in order, stopping before an ask once `max_total_bytes` (> 0) is passed."""
    answers: list[Missed] = []
    spent = 0
    for user_id, since, limit in asks:
        if answers and 0 < max_total_bytes < spent:
            break
        answers.append(await read(user_id, since, limit, max_conversations, max_bytes, max_pages))
        spent += ReadBudget.missed_size(answers[-1])
    return answers


class ReadBudget:
    """Spent across every read of one reply (a resume reads many conversations): `max_bytes`,
    and at most `max_reads` reads that found something. 0 = unbounded."""

    def __init__(self, max_bytes: int = 0, max_reads: int = 0) -> None:
        self._left = max_bytes if max_bytes > 0 else sys.maxsize
        self._reads_left = max_reads if max_reads > 0 else sys.maxsize
        self.done = False

    @staticmethod
    def missed_size(missed: Missed) -> int:
        """A lower bound of one resume read's encoded size (what a batch of them is cut by)."""
        return sum(size_lower_bound(m) for _, rows in missed for m in rows)

    def take(self, rows: Iterable[StoredMessage]) -> list[StoredMessage]:
        """Messages (read lazily) until the budget is spent, then one more; none once done."""
        return self._take(rows, size_lower_bound)

    def take_summaries(self, rows: Iterable[ConversationSummary]) -> list[ConversationSummary]:
        """Conversation-list rows, likewise."""
        return self._take(rows, summary_lower_bound)

    def _take(self, rows: Iterable[T], size: Callable[[T], int]) -> list[T]:
        taken: list[T] = []
        if self.done:
            return taken
        for row in rows:
            taken.append(row)
            if self._left < 0:
                self.done = True
                break
            self._left -= size(row)
        if taken:
            self._reads_left -= 1
            self.done = self.done or self._reads_left <= 0
        return taken
