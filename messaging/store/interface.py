"""The storage contract of the messaging room, split by what it keeps: the message log
(kernel/message_log.py, shared with the router), cursors, and the directory (users, token
generations, contacts, conversations, membership). Rules (membership, limits, roles) live in
the services, the owner's numbering and fencing rules in kernel/log_rules.py; a store only
keeps data consistent and durable. One backend may implement all three over one database
(`MessageStore`): the log's append moves conversations' last seq and activity (directory)
and the sender's own cursors in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from kernel import message_log
from kernel.message_log import HistoryDirection
from messaging.model import (
    AppendOutcome,
    Conversation,
    ConversationSummary,
    CursorChange,
    Cursors,
    CursorUpdate,
    DirectPeer,
    Member,
    NewMessage,
    PresenceRelations,
    Role,
    StoredMessage,
    User,
)

__all__ = ["CursorStore", "Directory", "HistoryDirection", "MessageLog", "MessageStore"]


class MessageLog(message_log.MessageLog[NewMessage, AppendOutcome, StoredMessage], Protocol):
    """The message log over messaging's message values. Appending also moves the sender's
    cursors over their own new messages (messaging/store/own_messages.py: your own messages
    are never unread, and sending reads nothing else), in the same transaction."""

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        """The message stored under this dedupe key, as every reader sees it (None: none), for
        a retry that must be answered before a check that only a new send must pass."""
        ...


class CursorStore(Protocol):
    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        """Monotonic (kernel/log_rules.py): a lower or equal seq leaves the cursor unchanged
        (moved=False). Reading up to N implies delivered up to N. One result per update, in
        order; durable on return."""
        ...

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors: ...

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        """Cursors of every member that has any (for read-by)."""
        ...


class LogDirectory(Protocol):
    """What a log kept in another database (messaging/store/cassandra/) asks of the
    directory: the whole Directory in messaging's process; over messaging's rpcs in a
    partition-owning router's (messaging/remote_directory.py)."""

    async def get_conversation(self, conversation_id: int) -> Conversation | None: ...

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None: ...

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]: ...


class Directory(Protocol):
    # ------------------------------------------------------------------ accounts
    async def create_user(self, user: User) -> None:
        """Raises kernel.errors.Conflict when the user id is taken."""
        ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def update_display_name(self, user_id: str, display_name: str) -> User | None: ...

    async def add_contact(self, owner_id: str, contact_id: str) -> None:
        """Idempotent."""
        ...

    async def remove_contact(self, owner_id: str, contact_id: str) -> None:
        """Idempotent."""
        ...

    async def list_contacts(self, owner_id: str) -> list[str]:
        """Sorted."""
        ...

    async def contact_of(self, user_id: str) -> list[str]:
        """Users who have `user_id` among their contacts, sorted."""
        ...

    async def token_generations(self, user_ids: Sequence[str]) -> dict[str, int]:
        """The token generation of each listed user that exists (0 until first revoked)."""
        ...

    async def bump_token_generation(self, user_id: str) -> int | None:
        """Add one to the user's token generation and return it; None for no such user."""
        ...

    # ------------------------------------------------------------- conversations
    async def get_or_create_direct(
        self, user_a: str, user_b: str, conversation_id: int, now_ms: int
    ) -> tuple[Conversation, bool]:
        """The one direct conversation of the pair (order-insensitive), creating it with
        `conversation_id` if absent; either way `user_a` has now opened it (see DirectPeer).
        Returns (conversation, created). Atomic: concurrent calls for the same pair yield the
        same conversation."""
        ...

    async def create_group(self, conversation: Conversation, members: Sequence[Member]) -> None: ...

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        """Includes the current last_seq and last_activity_ms."""
        ...

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        """A log kept in another database (messaging/store/cassandra/) stored messages: raise
        each conversation's (last_seq, last_activity_ms) to these, never lowering either.
        A store whose own log appends does this in the append's transaction instead."""
        ...

    async def get_members(self, conversation_id: int) -> list[Member]:
        """Sorted by user id; empty for an unknown conversation."""
        ...

    async def add_members(self, conversation_id: int, members: Sequence[Member]) -> list[Member]:
        """Adds those not yet members; returns the ones actually added."""
        ...

    async def remove_member(self, conversation_id: int, user_id: str) -> bool: ...

    async def set_role(self, conversation_id: int, user_id: str, role: Role) -> bool: ...

    async def rename(self, conversation_id: int, title: str) -> bool: ...

    async def direct_peers(self, user_id: str) -> list[DirectPeer]:
        """The other member of every direct conversation of `user_id` (sorted by peer), with
        who has opened it; the presence rule over them is messaging/accounts.py's."""
        ...

    async def presence_relations(self, user_ids: Sequence[str]) -> list[PresenceRelations]:
        """list_contacts, contact_of and direct_peers of each user, in order, in one store
        round trip: a reconnect storm asks them of thousands of users at once."""
        ...

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
        `max_bytes` > 0 stops sooner (messaging/store/read_budget.py). A direct row names its
        peer (`peer_id`), read with the page, not one lookup per row."""
        ...


class MessageStore(MessageLog, CursorStore, Directory, Protocol):
    """All three over one database, as a node runs them (messaging/server.py opens one)."""

    async def open(self) -> None:
        """Create or migrate the schema; start background writers."""
        ...

    async def close(self) -> None:
        """Flush pending writes and release resources."""
        ...
