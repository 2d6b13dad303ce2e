"""The pure push rules: Retry-After in both forms, backoff, and the content policy."""

from __future__ import annotations

import pytest

from kernel.errors import InvalidArgument
from router.push.config import PushConfig
from router.push.rules import ContentPolicy, Delivery, content_of, next_attempt_ms, retry_after_ms

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_ms("120", NOW) == 120_000
    assert retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", NOW) == 30_000
    assert retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", NOW) == 0  # already past
    assert retry_after_ms(None, NOW) is None
    assert retry_after_ms("soon", NOW) is None


def test_backoff_doubles_to_its_cap_and_never_undercuts_retry_after() -> None:
    waits = [next_attempt_ms(n, None, NOW, 1_000, 8_000) - NOW for n in range(6)]
    assert waits == [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]
    assert next_attempt_ms(0, 60_000, NOW, 1_000, 8_000) - NOW == 60_000
    assert next_attempt_ms(100, None, NOW, 1_000, 8_000) - NOW == 8_000


def delivery(encrypted: bool = False, count: int = 1) -> Delivery:
    return Delivery("ann", "phone", 7, 3, 70, "ben", "see you at 8", encrypted, count)


def test_the_content_policy_shows_what_it_promises() -> None:
    generic = content_of(delivery(count=4), ContentPolicy.GENERIC)
    assert (generic.title, generic.body, generic.collapse_key) == ("New message", "", "c7")
    assert content_of(delivery(count=4), ContentPolicy.COUNT).title == "4 new messages"
    preview = content_of(delivery(), ContentPolicy.PREVIEW)
    assert (preview.title, preview.body) == ("ben", "see you at 8")
    for policy in ContentPolicy:
        hidden = content_of(delivery(encrypted=True, count=4), policy)
        assert (hidden.title, hidden.body) == ("New message", "")
        assert hidden.data == {"conversation_id": "7", "message_id": "70", "seq": "3"}


def test_a_bad_push_option_is_refused_at_start_up() -> None:
    with pytest.raises(InvalidArgument, match="push_content"):
        PushConfig(push_content="everything")
    with pytest.raises(InvalidArgument, match="push_retry_cap_ms"):
        PushConfig(push_retry_base_ms=10_000, push_retry_cap_ms=1_000)
