"""What `hubbub chat` prints: pure formatting of messages, ticks, presence and the help text.

No I/O and no clock here: the caller passes `now_ms`, so every line is tested as a string."""

from __future__ import annotations

import time

from protos import client_pb2 as pb

COMMANDS = (
    ("/to USER", "open the direct chat with USER and talk there"),
    ("/group TITLE a,b,c", "create a group with these members and talk there"),
    ("/switch @USER | TITLE | ID", "talk in another conversation"),
    ("/list", "your conversations, unread counts, who is online"),
    ("/history [older]", "the last 20 messages here; `older` pages further back each time"),
    ("/add a,b", "add members to this group"),
    ("/remove USER", "remove a member from this group"),
    ("/rename TITLE", "rename this group"),
    ("/owner USER", "hand ownership of this group to USER (the owner must, before leaving)"),
    ("/leave", "leave this group"),
    ("/read", "mark everything here read"),
    ("/attach PATH [caption]", "send a file (an image, video, audio, PDF or text file)"),
    ("/save KEY [PATH]", "download an attachment of this conversation"),
    ("/delete SEQ", "delete your message #SEQ here, for everyone"),
    ("/help", "this list"),
    ("/quit", "leave the chat (or Ctrl-D)"),
)
HELP = "commands:\n" + "\n".join(f"  {name:<28}{what}" for name, what in COMMANDS)
HELP += "\n  any other line is sent to the current conversation"

SENT = "✓ sent"
DELIVERED = "✓✓ delivered"
READ = "✓✓ read"
_BLUE = "\x1b[34m"
_RESET = "\x1b[0m"


def clock(ms: int) -> str:
    return time.strftime("%H:%M", time.localtime(ms / 1000))


DELETED = "This message was deleted"


def message_line(message: pb.Message, label: str, me: str) -> str:
    who = "you" if message.sender_id == me else message.sender_id
    head = f"[{clock(message.sent_at_ms)} {label} #{message.seq}]"
    if message.deletes_seq:  # a deletion entry (docs/protocol.md, "deleteMessage")
        return f"{head} {who} deleted #{message.deletes_seq}: {DELETED}"
    if message.deleted:
        return f"{head} {who}: ({DELETED})"
    line = f"{head} {who}: {message.body}"
    return line + attachment(message.media) if message.HasField("media") else line


def attachment(media: pb.MediaRef) -> str:
    """How an attachment shows in a message line: what it is, and how to fetch it."""
    name = media.file_name or media.content_type
    return f" [file: {name}, {media.content_type}, {media.size_bytes:,} bytes; /save {media.key}]"


def sent_line(seq: int, duplicate: bool) -> str:
    return f"   {SENT} #{seq}{' (again)' if duplicate else ''}"


def receipt_line(receipt: pb.Receipt, label: str, *, colour: bool) -> str:
    """Two ticks for delivered, two ticks and "read" (blue on a colour terminal) for read."""
    if receipt.kind == pb.RECEIPT_KIND_READ:
        ticks = f"{_BLUE}{READ}{_RESET}" if colour else READ
        return f"   {ticks} by {receipt.user_id} up to #{receipt.up_to_seq} ({label})"
    return f"   {DELIVERED} to {receipt.user_id} up to #{receipt.up_to_seq} ({label})"


def ago(then_ms: int, now_ms: int) -> str:
    """How long ago, the way people say it: just now, 5 min ago, 3 h ago, on 2026-01-31."""
    seconds = max(0, now_ms - then_ms) // 1000
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h ago"
    return "on " + time.strftime("%Y-%m-%d", time.localtime(then_ms / 1000))


def status_text(online: bool, last_seen_ms: int, now_ms: int) -> str:
    if online:
        return "online"
    if last_seen_ms:
        return f"offline, last seen {ago(last_seen_ms, now_ms)}"
    return "offline"


def presence_line(event: pb.PresenceEvent, now_ms: int) -> str:
    online = event.status == pb.PRESENCE_STATUS_ONLINE
    return f"-- {event.user_id} is {status_text(online, event.last_seen_ms, now_ms)}"


def event_name(kind: pb.ConversationEventKind.ValueType) -> str:
    return (
        pb.ConversationEventKind.Name(kind).removeprefix("CONVERSATION_EVENT_KIND_").lower().replace("_", " ")
    )


def conversation_event_line(event: pb.ConversationEvent, label: str) -> str:
    who = f" ({', '.join(event.user_ids)})" if event.user_ids else ""
    return f"-- {label}: {event_name(event.kind)}{who} by {event.actor_id}"
