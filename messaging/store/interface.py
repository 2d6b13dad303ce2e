"""The storage contract of the messaging room. Rules (membership, limits, roles) live in
the service; a store only keeps data consistent and durable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from messaging.model import (
    AppendOutcome,
    Conversation,
    ConversationSummary,
    CursorChange,
    Cursors,
    CursorUpdate,
    Member,
    NewMessage,
    Role,
    StoredMessage,
    User,
)

HistoryDirection = Literal["before", "after"]


class MessageStore(Protocol):
    async def open(self) -> None:
        """Create or migrate the schema; start background writers."""

    async def close(self) -> None:
        """Flush pending writes and release resources."""

    # ------------------------------------------------------------------ accounts
    async def create_user(self, user: User) -> None:
        """Raises kernel.errors.Conflict when the user id is taken."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def update_display_name(self, user_id: str, display_name: str) -> User | None: ...

    async def add_contact(self, owner_id: str, contact_id: str) -> None:
        """Idempotent."""

    async def remove_contact(self, owner_id: str, contact_id: str) -> None:
        """Idempotent."""

    async def list_contacts(self, owner_id: str) -> list[str]:
        """Sorted."""

    async def contact_of(self, user_id: str) -> list[str]:
        """Users who have `user_id` among their contacts, sorted."""

    async def token_generations(self, user_ids: Sequence[str]) -> dict[str, int]:
        """The token generation of each listed user that exists (0 until first revoked)."""

    async def bump_token_generation(self, user_id: str) -> int | None:
        """Add one to the user's token generation and return it; None for no such user."""

    # ------------------------------------------------------------- conversations
    async def get_or_create_direct(
        self, user_a: str, user_b: str, conversation_id: int, now_ms: int
    ) -> tuple[Conversation, bool]:
        """The one direct conversation of the pair (order-insensitive), creating it with
        `conversation_id` if absent. Returns (conversation, created). Atomic: concurrent
        calls for the same pair yield the same conversation."""

    async def create_group(self, conversation: Conversation, members: Sequence[Member]) -> None: ...

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        """Includes the current last_seq and last_activity_ms."""

    async def get_members(self, conversation_id: int) -> list[Member]:
        """Sorted by user id; empty for an unknown conversation."""

    async def add_members(self, conversation_id: int, members: Sequence[Member]) -> list[Member]:
        """Adds those not yet members; returns the ones actually added."""

    async def remove_member(self, conversation_id: int, user_id: str) -> bool: ...

    async def set_role(self, conversation_id: int, user_id: str, role: Role) -> bool: ...

    async def rename(self, conversation_id: int, title: str) -> bool: ...

    async def direct_peers(self, user_id: str) -> list[str]:
        """The other member of every direct conversation of `user_id`, sorted."""

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:
        """The user's conversations by latest activity (newest first, then by conversation id,
        highest first), with the last message and the user's cursors. `before_activity_ms` > 0
        pages: only older activity, or the same activity and a conversation id below
        `before_conversation_id` (the last row of the previous page), so ties page safely.
        `max_bytes` > 0 stops sooner (messaging/store/read_budget.py)."""

    # ------------------------------------------------------------------ messages
    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        """Store a batch; one outcome per input, in order. Each new message gets the next
        gap-free seq of its conversation (in input order); a message whose (sender_id,
        client_msg_id) is already stored is not stored again: its outcome is the original
        with duplicate=True (also within one batch). In the same transaction the sender's
        cursors move over their own new messages (messaging/store/own_messages.py: your own
        messages are never unread, and sending reads nothing else). Returns only after the batch is durable.
        Concurrent calls are allowed and are committed together (group commit)."""

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
        max_bytes: int = 0,
    ) -> list[StoredMessage]:
        """Up to `limit` messages with seq < anchor ("before"; anchor 0 = from the newest) or
        seq > anchor ("after"): always the `limit` nearest the anchor, returned in the
        requested order. `max_bytes` > 0 stops sooner, nearest first, as
        messaging/store/read_budget.py says."""

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredMessage]]]:
        """Resume in one round trip: for each of the user's `max_conversations` most recently
        active conversations (newest first) with messages after `since[cid]` (or, absent, the
        user's delivered cursor), the `limit` oldest of those, oldest first. Conversations with
        nothing missed are left out; one consistent snapshot. `max_bytes` > 0 bounds the reads
        of all conversations together (messaging/store/read_budget.py), `max_pages` > 0 the
        conversations read: those past either are still listed, with no messages."""

    async def last_seq(self, conversation_id: int) -> int: ...

    # ------------------------------------------------------------------- cursors
    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        """Monotonic: a lower or equal seq leaves the cursor unchanged (moved=False). Reading
        up to N implies delivered up to N. One result per update, in order; durable on return."""

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors: ...

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        """Cursors of every member that has any (for read-by)."""

    # ------------------------------------------------------------------- fencing
    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Raise each (partition, epoch)'s sealed epoch, never lowering it (kernel/log_rules.py);
        durable on return. Returns the (partition, sealed epoch) pairs already sealed higher."""

    async def sealed_epoch(self, partition: int) -> int:
        """The highest epoch sealed for the partition; 0 when never sealed."""
