"""Model <-> protobuf for the messaging room: the servicer speaks protobuf, the services
speak the plain values of messaging/model.py, and only this module knows both."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from google.protobuf.message import Message as ProtoMessage

from kernel.budget import json_growth
from kernel.error_frames import error_pb, fill_from
from kernel.errors import HubbubError, InvalidArgument
from kernel.limits import MAX_REPLY_PAGE_BYTES, MAX_RESUME_PAGES, MAX_RESUME_REPLY_BYTES
from kernel.protowire import varint
from messaging import rules
from messaging.appends import SendItem
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
from messaging.messages import CursorOutcome, Page, ReadBy
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
    """One item's refusal in a batch reply, filled as every Error is (kernel.error_frames)."""
    return error_pb(error)


def fill_error(target: client_pb2.Error, error: HubbubError) -> None:
    """error_to_pb in place (a batch item's submessage)."""
    fill_from(target, error)


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
    if message.media:
        target.media.ParseFromString(message.media)
    if message.deletes_seq:
        target.deletes_seq = message.deletes_seq
    elif message.deleted:
        target.deleted = True


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
    GetConversation returns them. A direct row names its peer instead."""
    row = client_pb2.ConversationSummary(
        conversation=conversation_to_pb(summary.conversation),
        unread=summary.unread,
        delivered_seq=summary.cursors.delivered_seq,
        read_seq=summary.cursors.read_seq,
        peer_id=summary.peer_id,
    )
    if summary.last_message is not None:
        row.last_message.CopyFrom(message_to_pb(summary.last_message))
    return row


def conversation_list_to_pb(
    summaries: Iterable[ConversationSummary], has_more: bool, budget: int = MAX_REPLY_PAGE_BYTES
) -> client_pb2.ConversationList:
    """The newest rows within `budget` encoded bytes (at least one); cut short, it says has_more."""
    built = [summary_to_pb(s) for s in summaries]
    kept, _ = _fit(built, budget - _PAGE_HEADER_BYTES, anchor_first=True, at_least_one=True)
    return client_pb2.ConversationList(items=kept, has_more=has_more or len(kept) < len(built))


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
                m.content_type, m.body, m.payload, item.owner_epoch,
                m.media.SerializeToString() if m.HasField("media") else b"", item.delete_seq,
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
        owner_epoch=item.owner_epoch,
        media=message.media.SerializeToString() if message.HasField("media") else b"",
        delete_seq=item.delete_seq,
    )


def direction_from_pb(direction: int) -> HistoryDirection:
    if direction == client_pb2.HISTORY_DIRECTION_AFTER:
        return "after"
    if direction in (client_pb2.HISTORY_DIRECTION_UNSPECIFIED, client_pb2.HISTORY_DIRECTION_BEFORE):
        return "before"
    raise InvalidArgument("unknown history direction")


# ------------------------------------------------------------------- pages
# Replies are capped in encoded bytes as well as in items (kernel/limits.py): every page
# builder measures what it built and keeps what rules.fit_count allows.

# A page's own fields (conversation_id, has_more: at most 13 bytes) and, inside a resume
# reply, its tag and length: reserved out of every budget.
_PAGE_HEADER_BYTES = 32
P = TypeVar("P", bound=ProtoMessage)


def client_size(item: ProtoMessage) -> int:
    """What an item of a reply costs on the client's wire: its protobuf size, or its size in
    JSON when that is larger (control characters escape to 6 bytes each, payloads grow by a
    third): a page cut by protobuf size alone reached a JSON client 6x over its budget."""
    size = item.ByteSize()
    if isinstance(item, client_pb2.Message):
        return size + json_growth(item.body, item.payload)
    if isinstance(item, client_pb2.ConversationSummary) and item.HasField("last_message"):
        return size + json_growth(item.last_message.body, item.last_message.payload)
    return size


def element_size(size: int) -> int:
    """Encoded bytes of one element of a repeated message field numbered 1..15."""
    return 1 + len(varint(size)) + size


def _fit(items: Sequence[P], budget: int, *, anchor_first: bool, at_least_one: bool) -> tuple[list[P], int]:
    """The items that fit (those nearest the anchor) and the bytes they take."""
    nearest_first = list(items) if anchor_first else list(reversed(items))
    sizes: list[int] = []

    def measured() -> Iterator[int]:  # lazily: items past the cut are not measured
        for item in nearest_first:
            sizes.append(element_size(client_size(item)))
            yield sizes[-1]

    count = rules.fit_count(measured(), budget, at_least_one=at_least_one)
    kept = nearest_first[:count]
    if not anchor_first:
        kept.reverse()
    return kept, sum(sizes[:count])


def page_to_pb(page: Page, budget: int = MAX_REPLY_PAGE_BYTES) -> client_pb2.HistoryPage:
    """The page within `budget` encoded bytes (at least one message); cut short, it says has_more."""
    built = [message_to_pb(m) for m in page.messages]
    kept, _ = _fit(built, budget - _PAGE_HEADER_BYTES, anchor_first=page.anchor_first, at_least_one=True)
    return client_pb2.HistoryPage(
        conversation_id=page.conversation_id,
        messages=kept,
        has_more=page.has_more or len(kept) < len(built),
    )


def resume_reply_to_pb(
    pages: Iterable[Page],
    budget: int = MAX_RESUME_REPLY_BYTES,
    max_pages: int = MAX_RESUME_PAGES,
    *,
    into: messaging_pb2.ResumeReply | None = None,
) -> messaging_pb2.ResumeReply:
    """The pages that fit `budget` encoded bytes together (each within a page's budget; at
    least one message in all) and `max_pages`, in order; it stops at the first that does not.
    `has_more` when the reply does not carry everything missed: resume again. `into`: an
    empty reply to fill in place (a batch's submessage), returned."""
    reply = messaging_pb2.ResumeReply() if into is None else into
    remaining = budget
    for page in pages:
        first = not reply.pages
        allowance = min(remaining, MAX_REPLY_PAGE_BYTES) - _PAGE_HEADER_BYTES
        if len(reply.pages) >= max_pages or (allowance <= 0 and not first):
            reply.has_more = True
            break
        built = [message_to_pb(m) for m in page.messages]
        kept, used = _fit(built, allowance, anchor_first=page.anchor_first, at_least_one=first)
        if not kept:
            reply.has_more = True
            break
        remaining -= _PAGE_HEADER_BYTES + used
        more = page.has_more or len(kept) < len(built)
        reply.pages.add(conversation_id=page.conversation_id, messages=kept, has_more=more)
        reply.has_more = reply.has_more or more
    return reply


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
