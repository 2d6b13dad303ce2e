"""The messaging domain as plain values: what the store keeps and the service returns.

No gRPC, no SQL here; `messaging/convert.py` maps these to and from protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    MEMBER = 1
    ADMIN = 2
    OWNER = 3


class CursorKind(StrEnum):
    DELIVERED = "delivered"
    READ = "read"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    display_name: str
    password_hash: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    role: Role
    joined_at_ms: int


@dataclass(frozen=True, slots=True)
class Conversation:
    conversation_id: int
    kind: ConversationKind
    title: str
    created_by: str
    created_at_ms: int
    last_seq: int = 0
    last_activity_ms: int = 0


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store. `message_id` and `sent_at_ms` are assigned by the service before the
    store call; the store assigns `seq` and keeps them only if the message is not a retry.
    `owner_epoch`: the writer's epoch for the conversation's partition (0 = unfenced)."""

    conversation_id: int
    sender_id: str
    sender_device: str
    client_msg_id: str
    content_type: str
    body: str
    payload: bytes
    message_id: int
    sent_at_ms: int
    owner_epoch: int = 0
    media: bytes = b""
    """A serialized client MediaRef (an attachment in the blob store); empty = none."""
    deletes_seq: int = 0
    """> 0: a deletion entry. Storing it erases the message at this seq (messaging/deletion.py)."""
    deleted_by_seq: int = 0
    """Only on an erased message's row as the Cassandra log rewrites it: see StoredMessage."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    conversation_id: int
    seq: int
    message_id: int
    sender_id: str
    sender_device: str
    client_msg_id: str
    content_type: str
    body: str
    payload: bytes
    sent_at_ms: int
    media: bytes = b""
    """A serialized client MediaRef; empty = none."""
    deletes_seq: int = 0
    """> 0: this entry records the deletion of the message at that seq (it has no content)."""
    deleted_by_seq: int = 0
    """> 0: deleted for everyone, its content erased; the seq of its deletion entry (a repeat
    of the deletion is answered with that entry, whatever became of the dedupe key)."""

    @property
    def deleted(self) -> bool:
        return self.deleted_by_seq > 0


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """`duplicate`: (sender, client_msg_id) was stored before; `message` is that original."""

    message: StoredMessage
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Cursors:
    user_id: str
    conversation_id: int
    delivered_seq: int = 0
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class CursorUpdate:
    user_id: str
    conversation_id: int
    kind: CursorKind
    seq: int


@dataclass(frozen=True, slots=True)
class CursorChange:
    """The cursors after an update; `moved` is False when the update was not higher."""

    cursors: Cursors
    moved: bool


@dataclass(frozen=True, slots=True)
class DirectPeer:
    """The other member of one of a user's direct conversations, and whether each side has
    opened it (OpenDirect): presence is shared only once both have (messaging/accounts.py)."""

    peer_id: str
    conversation_id: int
    opened_by_me: bool
    opened_by_peer: bool


@dataclass(frozen=True, slots=True)
class PresenceRelations:
    """What the presence rule (messaging/accounts.py) reads of one user, read together."""

    contacts: list[str]
    contact_of: list[str]
    direct_peers: list[DirectPeer]


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    conversation: Conversation
    last_message: StoredMessage | None
    cursors: Cursors
    peer_id: str = ""
    """A direct conversation's other member (empty for groups): list rows carry no members."""

    @property
    def unread(self) -> int:
        return max(0, self.conversation.last_seq - self.cursors.read_seq)
