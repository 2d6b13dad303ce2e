"""Model <-> protobuf for the messaging room: the servicer speaks protobuf, the services
speak the plain values of messaging/model.py, and only this module knows both."""

from __future__ import annotations

from collections.abc import Iterable

from kernel.errors import HubbubError, InvalidArgument
from messaging.conversations import (
    AddMembers,
    Details,
    EventKind,
    GroupChange,
    GroupEvent,
    RemoveMember,
    Rename,
    SetRole,
)
from messaging.messages import CursorOutcome, Page, ReadBy, SendItem
from messaging.model import (
    AppendOutcome,
    Conversation,
    ConversationKind,
    ConversationSummary,
    CursorKind,
    CursorUpdate,
    Member,
    Role,
    StoredMessage,
)
from messaging.store.interface import HistoryDirection
from protos import client_pb2, messaging_pb2

_KIND = {
    ConversationKind.DIRECT: client_pb2.CONVERSATION_KIND_DIRECT,
    ConversationKind.GROUP: client_pb2.CONVERSATION_KIND_GROUP,
}
_EVENT = {
    EventKind.CREATED: client_pb2.CONVERSATION_EVENT_KIND_CREATED,
    EventKind.MEMBERS_ADDED: client_pb2.CONVERSATION_EVENT_KIND_MEMBERS_ADDED,
    EventKind.MEMBER_REMOVED: client_pb2.CONVERSATION_EVENT_KIND_MEMBER_REMOVED,
    EventKind.RENAMED: client_pb2.CONVERSATION_EVENT_KIND_RENAMED,
    EventKind.ROLE_CHANGED: client_pb2.CONVERSATION_EVENT_KIND_ROLE_CHANGED,
}
_RECEIPT = {
    client_pb2.RECEIPT_KIND_DELIVERED: CursorKind.DELIVERED,
    client_pb2.RECEIPT_KIND_READ: CursorKind.READ,
}


def error_to_pb(error: HubbubError) -> client_pb2.Error:
    return client_pb2.Error(code=error.code.value, message=error.message, retryable=error.retryable)


def message_to_pb(message: StoredMessage) -> client_pb2.Message:
    target = client_pb2.Message()
    fill_message(target, message)
    return target


def fill_message(target: client_pb2.Message, message: StoredMessage) -> None:
    """Set `message` into a (sub)message in place: no intermediate message and no copy."""
    target.conversation_id = message.conversation_id
    target.seq = message.seq
    target.message_id = message.message_id
    target.sender_id = message.sender_id
    target.sender_device = message.sender_device
    target.client_msg_id = message.client_msg_id
    if message.content_type:
        target.content_type = message.content_type
    if message.body:
        target.body = message.body
    if message.payload:
        target.payload = message.payload
    target.sent_at_ms = message.sent_at_ms


def append_reply(results: Iterable[AppendOutcome | HubbubError]) -> messaging_pb2.AppendReply:
    """One AppendResult per outcome, in order; messages are written straight into the reply."""
    reply = messaging_pb2.AppendReply()
    add = reply.results.add
    for result in results:
        if isinstance(result, HubbubError):
            add(error=error_to_pb(result))
            continue
        entry = add()
        fill_message(entry.message, result.message)
        if result.duplicate:
            entry.duplicate = True
    return reply


def member_to_pb(member: Member) -> client_pb2.Member:
    return client_pb2.Member(
        user_id=member.user_id,
        role=client_pb2.Role.ValueType(int(member.role)),
        joined_at_ms=member.joined_at_ms,
    )


def conversation_to_pb(conversation: Conversation, members: Iterable[Member] = ()) -> client_pb2.Conversation:
    return client_pb2.Conversation(
        conversation_id=conversation.conversation_id,
        kind=_KIND[conversation.kind],
        title=conversation.title,
        members=[member_to_pb(m) for m in members],
        last_seq=conversation.last_seq,
        created_at_ms=conversation.created_at_ms,
        last_activity_ms=conversation.last_activity_ms,
    )


def details_to_pb(details: Details) -> client_pb2.Conversation:
    return conversation_to_pb(details.conversation, details.members)


def summary_to_pb(summary: ConversationSummary) -> client_pb2.ConversationSummary:
    """Members are left out of list rows: a page of 500-member groups would be huge;
    GetConversation returns them."""
    row = client_pb2.ConversationSummary(
        conversation=conversation_to_pb(summary.conversation),
        unread=summary.unread,
        delivered_seq=summary.cursors.delivered_seq,
        read_seq=summary.cursors.read_seq,
    )
    if summary.last_message is not None:
        row.last_message.CopyFrom(message_to_pb(summary.last_message))
    return row


def kind_to_pb(kind: ConversationKind) -> client_pb2.ConversationKind.ValueType:
    return _KIND[kind]


def group_event_to_pb(event: GroupEvent) -> client_pb2.ConversationEvent:
    return client_pb2.ConversationEvent(
        kind=_EVENT[event.kind],
        conversation=details_to_pb(event.details),
        actor_id=event.actor_id,
        user_ids=event.user_ids,
    )


def group_change_from_pb(update: client_pb2.UpdateGroup) -> GroupChange:
    which = update.WhichOneof("change")
    if which == "rename":
        return Rename(update.rename)
    if which == "add_members":
        return AddMembers(list(update.add_members.user_ids))
    if which == "remove_member":
        return RemoveMember(update.remove_member)
    if which == "set_role":
        return SetRole(update.set_role.user_id, role_from_pb(update.set_role.role))
    raise InvalidArgument("a group update needs a change")


def role_from_pb(role: int) -> Role:
    try:
        return Role(role)
    except ValueError as exc:
        raise InvalidArgument("role must be member, admin or owner") from exc


def send_items_from_pb(items: Iterable[messaging_pb2.AppendItem]) -> list[SendItem]:
    """The Append hot path: positional construction, one pass."""
    out: list[SendItem] = []
    append = out.append
    for item in items:
        m = item.message
        append(
            SendItem(
                item.sender_id, item.sender_device, m.conversation_id, m.client_msg_id,
                m.content_type, m.body, m.payload,
            )
        )  # fmt: skip
    return out


def send_item_from_pb(item: messaging_pb2.AppendItem) -> SendItem:
    message = item.message
    return SendItem(
        sender_id=item.sender_id,
        sender_device=item.sender_device,
        conversation_id=message.conversation_id,
        client_msg_id=message.client_msg_id,
        content_type=message.content_type,
        body=message.body,
        payload=message.payload,
    )


def direction_from_pb(direction: int) -> HistoryDirection:
    if direction == client_pb2.HISTORY_DIRECTION_AFTER:
        return "after"
    if direction in (client_pb2.HISTORY_DIRECTION_UNSPECIFIED, client_pb2.HISTORY_DIRECTION_BEFORE):
        return "before"
    raise InvalidArgument("unknown history direction")


def page_to_pb(page: Page) -> client_pb2.HistoryPage:
    return client_pb2.HistoryPage(
        conversation_id=page.conversation_id,
        messages=[message_to_pb(m) for m in page.messages],
        has_more=page.has_more,
    )


def cursor_update_from_pb(update: messaging_pb2.CursorUpdate) -> CursorUpdate:
    kind = _RECEIPT.get(update.kind)
    if kind is None:
        raise InvalidArgument("cursor kind must be delivered or read")
    return CursorUpdate(update.user_id, update.conversation_id, kind, update.seq)


def cursor_outcome_to_pb(outcome: CursorOutcome) -> messaging_pb2.CursorResult:
    result = messaging_pb2.CursorResult(
        user_id=outcome.update.user_id, conversation_id=outcome.update.conversation_id
    )
    if outcome.change is not None:
        result.delivered_seq = outcome.change.cursors.delivered_seq
        result.read_seq = outcome.change.cursors.read_seq
        result.moved = outcome.change.moved
    if outcome.error is not None:
        result.error.CopyFrom(error_to_pb(outcome.error))
    return result


def read_by_to_pb(read_by: ReadBy) -> client_pb2.ReadByReply:
    return client_pb2.ReadByReply(
        conversation_id=read_by.conversation_id,
        seq=read_by.seq,
        read_by=read_by.read_by,
        delivered_to=read_by.delivered_to,
    )
