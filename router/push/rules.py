"""The push rules as pure functions: what a notification says (seed 000's content policy), when
a failed send is tried again (backoff, Retry-After), and the verdicts a sender returns."""

from __future__ import annotations

import email.utils
import enum
from dataclasses import dataclass, field

GENERIC_TITLE = "New message"


class ContentPolicy(enum.StrEnum):
    """What a push shows on the lock screen. GENERIC: "New message" (the default: a push service
    and a locked phone see no text); COUNT: "3 new messages"; PREVIEW: the sender and the first
    characters. An end-to-end encrypted message always gets GENERIC text and ids only."""

    GENERIC = "generic"
    COUNT = "count"
    PREVIEW = "preview"


class Verdict(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # 429, 5xx, a transport error: try again later
    GONE = "gone"  # the service says the target no longer exists: remove it
    REJECTED = "rejected"  # the service refused this push for good (bad request, auth): drop it


@dataclass(frozen=True, slots=True)
class SendResult:
    verdict: Verdict
    retry_after_ms: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One push waiting for one device: the latest message of a conversation, and how many
    messages it stands for (a burst collapses into one row per device and conversation)."""

    user_id: str
    device_id: str
    conversation_id: int
    seq: int
    message_id: int
    sender_id: str
    preview: str
    encrypted: bool
    count: int = 1
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class PushContent:
    title: str
    body: str
    collapse_key: str
    data: dict[str, str] = field(default_factory=dict)


def collapse_key(conversation_id: int) -> str:
    """One key per conversation: a device shows the newest push of a conversation, not a stack."""
    return f"c{conversation_id}"


def content_of(delivery: Delivery, policy: ContentPolicy) -> PushContent:
    data = {
        "conversation_id": str(delivery.conversation_id),
        "message_id": str(delivery.message_id),
        "seq": str(delivery.seq),
    }
    key = collapse_key(delivery.conversation_id)
    if delivery.encrypted or policy is ContentPolicy.GENERIC:
        return PushContent(GENERIC_TITLE, "", key, data)
    if policy is ContentPolicy.COUNT:
        text = GENERIC_TITLE if delivery.count == 1 else f"{delivery.count} new messages"
        return PushContent(text, "", key, data | {"count": str(delivery.count)})
    return PushContent(delivery.sender_id, delivery.preview, key, data | {"sender_id": delivery.sender_id})


def retry_after_ms(header: str | None, now_ms: int) -> int | None:
    """Retry-After (RFC 9110 §10.2.3) as milliseconds from now: delay-seconds or an HTTP-date;
    None when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return int(text) * 1000
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() * 1000) - now_ms)


def next_attempt_ms(attempts: int, retry_after: int | None, now_ms: int, base_ms: int, cap_ms: int) -> int:
    """When to try again after `attempts` failures: exponential from `base_ms`, capped at
    `cap_ms`, never sooner than the service's Retry-After."""
    backoff = min(cap_ms, base_ms << min(attempts, 30))
    return now_ms + max(backoff, retry_after or 0)
