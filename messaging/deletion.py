"""Deleting a message for everyone, as pure rules: who may, what its deletion entry is, and
what is left of the message. The stores apply `erased`; messages.py checks and numbers.

A deletion is an entry of the conversation's log at a seq of its own (like a message: ordered,
fenced, delivered live and on resume); storing it erases the message it names, whose seq stays.
Only the sender may delete a message, at any time (docs/protocol.md, "deleteMessage").
"""

from __future__ import annotations

import dataclasses

from kernel.errors import InvalidArgument, NotFound, PermissionDenied
from kernel.limits import RESERVED_CLIENT_MSG_ID_PREFIX
from messaging.model import StoredMessage


def deletion_key(conversation_id: int, seq: int) -> str:
    """The deletion entry's client_msg_id: its dedupe key, so deleting twice stores it once."""
    return f"{RESERVED_CLIENT_MSG_ID_PREFIX}delete:{conversation_id}:{seq}"


def check_deletion(target: StoredMessage | None, seq: int, user_id: str) -> None:
    """Raises unless `user_id` may delete the message at `seq` (`target`, as read; None when no
    message has that seq). A message deleted already passes: the repeat is answered with its
    deletion entry."""
    if target is None or target.seq != seq:
        raise NotFound(f"no message with seq {seq} in this conversation")
    if target.deletes_seq:
        raise InvalidArgument("a deletion entry cannot be deleted")
    if target.sender_id != user_id:
        raise PermissionDenied("only its sender can delete a message")


def erased(message: StoredMessage, by_seq: int) -> StoredMessage:
    """What the store keeps of a deleted message: where it was, who sent it and the seq of its
    deletion entry (`by_seq`), no content."""
    return dataclasses.replace(
        message, content_type="", body="", payload=b"", media=b"", deleted_by_seq=by_seq
    )


def is_entry_of(entry: StoredMessage | None, deleted: StoredMessage) -> bool:
    """Whether `entry` (read at `deleted.deleted_by_seq`) is the deletion entry of `deleted`: a
    store whose erase and entry are two writes may have erased and then lost the entry."""
    return entry is not None and entry.seq == deleted.deleted_by_seq and entry.deletes_seq == deleted.seq
