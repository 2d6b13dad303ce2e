"""Reply pages capped by encoded bytes (kernel/limits.py): what every page builder keeps,
which end it keeps, and that a page cut short says has_more."""

from __future__ import annotations

import pytest

from kernel.grpc_server import MAX_MESSAGE_BYTES
from kernel.limits import (
    MAX_BODY_CHARS,
    MAX_PAGE_LIMIT,
    MAX_PAYLOAD_BYTES,
    MAX_REPLY_PAGE_BYTES,
    MAX_RESUME_REPLY_BYTES,
)
from messaging import convert
from messaging.conversations import Details
from messaging.messages import Page, ReadBy
from messaging.model import (
    Conversation,
    ConversationKind,
    ConversationSummary,
    Cursors,
    Member,
    Role,
    StoredMessage,
)
from messaging.store.interface import HistoryDirection
from protos import messaging_pb2

BIGGEST_BODY = "\U0001f600" * MAX_BODY_CHARS  # 4 bytes each in UTF-8
BIGGEST_PAYLOAD = b"\xff" * MAX_PAYLOAD_BYTES


def message(cid: int, seq: int, *, big: bool = True) -> StoredMessage:
    body, payload = (BIGGEST_BODY, BIGGEST_PAYLOAD) if big else ("hi", b"")
    return StoredMessage(
        cid, seq, 10**18 + seq, "u" * 32, "d" * 64, "c" * 64, "t" * 100, body, payload, 10**12
    )


def test_the_budgets_leave_room_under_the_internal_grpc_limit() -> None:
    assert MAX_REPLY_PAGE_BYTES < MAX_MESSAGE_BYTES and MAX_RESUME_REPLY_BYTES < MAX_MESSAGE_BYTES
    assert convert.message_to_pb(message(1, 1)).ByteSize() < MAX_REPLY_PAGE_BYTES


@pytest.mark.parametrize(
    ("direction", "newest_first"), [("before", True), ("before", False), ("after", True), ("after", False)]
)
def test_a_history_page_keeps_the_messages_nearest_the_anchor(
    direction: HistoryDirection, newest_first: bool
) -> None:
    seqs = list(range(1, 26)) if direction == "after" else list(range(26, 51))
    anchor_first = newest_first == (direction == "before")
    nearest = seqs if direction == "after" else seqs[::-1]  # nearest the anchor first
    ordered = sorted(seqs, reverse=newest_first)
    page = Page(7, [message(7, s) for s in ordered], has_more=False, anchor_first=anchor_first)

    built = convert.page_to_pb(page)

    assert built.ByteSize() <= MAX_REPLY_PAGE_BYTES
    assert built.has_more
    got = [m.seq for m in built.messages]
    assert 1 <= len(got) < len(seqs)
    assert sorted(got) == sorted(nearest[: len(got)])
    assert got == sorted(got, reverse=newest_first)  # still in the order asked


def test_small_pages_are_untouched_and_one_huge_message_still_goes_out() -> None:
    small = Page(7, [message(7, s, big=False) for s in range(1, MAX_PAGE_LIMIT + 1)], has_more=False)
    built = convert.page_to_pb(small)
    assert len(built.messages) == MAX_PAGE_LIMIT and not built.has_more

    lone = convert.page_to_pb(Page(7, [message(7, 1)], has_more=False), budget=1_000)
    assert [m.seq for m in lone.messages] == [1] and not lone.has_more


def test_resume_caps_the_whole_reply_and_says_it_has_more() -> None:
    pages = [Page(cid, [message(cid, s) for s in range(1, 4)], has_more=False) for cid in range(1, 23)]

    reply = convert.resume_reply_to_pb(pages)

    assert reply.ByteSize() <= MAX_RESUME_REPLY_BYTES and reply.has_more
    got = [p.conversation_id for p in reply.pages]
    assert got == list(range(1, len(got) + 1)) and 1 <= len(got) < 22  # in order, stopped at the budget
    for page in reply.pages:  # what came is the oldest missed, gap-free from the cursor
        assert page.messages and [m.seq for m in page.messages] == list(range(1, len(page.messages) + 1))
        assert page.has_more == (len(page.messages) < 3)


def test_resume_always_carries_one_message_however_small_the_budget() -> None:
    pages = [Page(cid, [message(cid, 1)], has_more=False) for cid in (1, 2)]
    reply = convert.resume_reply_to_pb(pages, budget=100)
    assert [(p.conversation_id, len(p.messages), p.has_more) for p in reply.pages] == [(1, 1, False)]
    assert reply.has_more


def test_resume_stops_at_the_page_limit_and_at_pages_the_store_did_not_read() -> None:
    small = [Page(cid, [message(cid, 1, big=False)], has_more=False) for cid in range(1, 11)]
    capped = convert.resume_reply_to_pb(small, max_pages=4)
    assert [p.conversation_id for p in capped.pages] == [1, 2, 3, 4] and capped.has_more
    unread = [*small[:2], Page(3, [], has_more=True), small[3]]
    stopped = convert.resume_reply_to_pb(unread)
    assert [p.conversation_id for p in stopped.pages] == [1, 2] and stopped.has_more
    everything = convert.resume_reply_to_pb(small)
    assert len(everything.pages) == 10 and not everything.has_more
    assert convert.resume_reply_to_pb([]) == messaging_pb2.ResumeReply()


def test_conversation_list_of_big_last_messages_pages_by_bytes() -> None:
    summaries = [
        ConversationSummary(
            Conversation(
                cid, ConversationKind.GROUP, "t" * 100, "u", 1, last_seq=1, last_activity_ms=100 - cid
            ),
            message(cid, 1),
            Cursors("u", cid),
        )
        for cid in range(1, 23)
    ]
    listing = convert.conversation_list_to_pb(summaries, has_more=False)
    assert listing.ByteSize() <= MAX_REPLY_PAGE_BYTES
    assert listing.has_more
    got = [row.conversation.conversation_id for row in listing.items]
    assert got == list(range(1, len(got) + 1))  # the newest, in order

    rest = convert.conversation_list_to_pb(summaries[-2:], has_more=False)
    assert len(rest.items) == 2 and not rest.has_more


def test_replies_that_grow_with_members_stay_far_below_the_budget() -> None:
    """A 500-member group with the longest ids, and read-by over all of them."""
    ids = [f"{i:03d}".ljust(32, "x") for i in range(500)]
    conversation = Conversation(2**63 - 1, ConversationKind.GROUP, "t" * 100, ids[0], 2**62, 2**63 - 1, 2**62)
    members = [Member(u, Role.MEMBER, 2**62) for u in ids]
    assert convert.details_to_pb(Details(conversation, members)).ByteSize() < MAX_REPLY_PAGE_BYTES // 100
    read_by = convert.read_by_to_pb(ReadBy(2**63 - 1, 2**63 - 1, ids[:250], ids[250:]))
    assert read_by.ByteSize() < MAX_REPLY_PAGE_BYTES // 100
