"""The message log: the interface two rooms share. Messaging reads it (history, resume) and
appends to it for the partition-owning router: in the router's own process when they share
one (no service hop: deploy/services.py), over the Append rpc when they do not. Its backends
live in the room that owns the data (messaging/store/: memory, SQLite).

What every backend guarantees (the contract suite is tests/messaging/store/contract_log.py):
- `append` is durable before it returns; concurrent calls are committed together (group
  commit); a caller's batch is numbered by the owner's rules (kernel/log_rules.py): gap-free
  seqs per conversation, each (sender, client_msg_id) stored once, retries answered with the
  original.
- Fencing: each message is stored with its writer's epoch. `seal` raises a partition's epoch
  (never lowers it); a write of an older epoch stores nothing (STALE_OWNER), epoch 0 passes
  only a never-sealed partition; at any seq the row of the highest epoch is the message every
  reader sees (docs/architecture.md, "The message log, epochs and fencing").
- Reads are bounded: by a row limit and, with `max_bytes`, by bytes (messaging/store/read_budget.py);
  resume is one read of one consistent snapshot.

Generic in the message types, so the kernel needs no messaging imports:
`MessageLog[NewMessage, AppendOutcome, StoredMessage]` is messaging's (messaging/store/interface.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, TypeVar

HistoryDirection = Literal["before", "after"]
MissedAsk = tuple[str, Mapping[int, int], int]
"""One resume's read: the user, the device's last seq per conversation, messages per conversation."""

NewT = TypeVar("NewT", contravariant=True)
OutcomeT = TypeVar("OutcomeT")
StoredT = TypeVar("StoredT")


class MessageLog(Protocol[NewT, OutcomeT, StoredT]):
    async def append(self, messages: Sequence[NewT]) -> list[OutcomeT]:
        """Store a batch; one outcome per input, in order. Each new message gets the next
        gap-free seq of its conversation (in input order); a message whose (sender_id,
        client_msg_id) is already stored is not stored again: its outcome is the original
        with duplicate=True (also within one batch). A message of an epoch older than its
        partition's seal fails the call with StaleOwner and nothing of it is stored (another
        caller's batch in the same commit is not affected; messaging.messages isolates items).
        Returns only after the batch is durable."""
        ...

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
        max_bytes: int = 0,
    ) -> list[StoredT]:
        """Up to `limit` messages with seq < anchor ("before"; anchor 0 = from the newest) or
        seq > anchor ("after"): always the `limit` nearest the anchor, returned in the
        requested order. `max_bytes` > 0 stops sooner, nearest first."""
        ...

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredT]]]:
        """Resume in one round trip: for each of the user's `max_conversations` most recently
        active conversations (newest first) with messages after `since[cid]` (or, absent, the
        user's delivered cursor), the `limit` oldest of those, oldest first. Conversations with
        nothing missed are left out; one consistent snapshot. `max_bytes` > 0 bounds the reads
        of all conversations together, `max_pages` > 0 the conversations read: those past
        either are still listed, with no messages."""
        ...

    async def missed_messages_many(
        self,
        asks: Sequence[MissedAsk],
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
        max_total_bytes: int = 0,
    ) -> list[list[tuple[int, list[StoredT]]]]:
        """missed_messages of each (user_id, since, limit) in order, each read as alone (its own
        snapshot and budgets), in one round trip: a reconnect storm's batch of resumes. With
        `max_total_bytes` > 0 it stops before an ask once the rows read pass it (the first is
        always read): the answer is then shorter than `asks`."""
        ...

    async def last_seq(self, conversation_id: int) -> int:
        """The highest seq stored for the conversation (0 when none)."""
        ...

    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Raise each (partition, epoch)'s sealed epoch, never lowering it; sealing at the
        current epoch again is a no-op; durable on return. Returns the (partition, sealed
        epoch) pairs that were sealed higher already: there the caller is a stale owner."""
        ...

    async def sealed_epoch(self, partition: int) -> int:
        """The highest epoch sealed for the partition; 0 when never sealed."""
        ...
