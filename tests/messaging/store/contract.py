"""Helpers of the store contracts (contract_directory.py, contract_log.py, contract_cursors.py):
each suite runs against every backend (tests/messaging/store/conftest.py parametrizes `store`).
"""

from __future__ import annotations

import itertools

from messaging.model import (
    Conversation,
    ConversationKind,
    Member,
    NewMessage,
    Role,
    StoredMessage,
    User,
)
from messaging.store.interface import MessageStore

NOW = 1_700_000_000_000
_message_ids = itertools.count(1_000)


def user(user_id: str, display_name: str = "") -> User:
    return User(user_id, display_name or user_id.title(), f"hash-{user_id}", NOW)


def member(user_id: str, role: Role = Role.MEMBER) -> Member:
    return Member(user_id, role, NOW)


def group(conversation_id: int, *, title: str = "group", at: int = NOW) -> Conversation:
    """As the service builds them: a new group's last activity is its creation."""
    return Conversation(conversation_id, ConversationKind.GROUP, title, "alice", at, last_activity_ms=at)


def message(
    conversation_id: int, sender: str, client_msg_id: str, *, body: str = "hi", at: int = NOW, epoch: int = 0
) -> NewMessage:
    return NewMessage(
        conversation_id=conversation_id,
        sender_id=sender,
        sender_device="phone",
        client_msg_id=client_msg_id,
        content_type="text/plain",
        body=body,
        payload=b"\x00\x01payload",
        message_id=next(_message_ids),
        sent_at_ms=at,
        owner_epoch=epoch,
    )


def seqs(messages: list[StoredMessage]) -> list[int]:
    return [m.seq for m in messages]


async def make_group(store: MessageStore, conversation_id: int, *users: str, at: int = NOW) -> None:
    await store.create_group(group(conversation_id, at=at), [member(u) for u in users or ("alice",)])


async def fill(store: MessageStore, conversation_id: int, count: int, sender: str = "alice") -> None:
    batch = [message(conversation_id, sender, f"fill-{conversation_id}-{i}") for i in range(count)]
    await store.append(batch)
