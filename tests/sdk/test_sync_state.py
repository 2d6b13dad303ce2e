"""The sans-I/O sync state: ordering, dedupe, gap filling and ack batching, with no sockets."""

from __future__ import annotations

from dataclasses import dataclass

from sdk.sync_state import AckPolicy, FetchRequest, SyncState


@dataclass(frozen=True)
class Msg:
    conversation_id: int
    seq: int


def seqs(messages: list[Msg]) -> list[int]:
    return [m.seq for m in messages]


def test_in_order_messages_are_delivered_at_once() -> None:
    state: SyncState[Msg] = SyncState()
    delivered: list[Msg] = []
    for seq in (1, 2, 3):
        result = state.on_message(Msg(7, seq), now=0.0)
        assert result.fetch == []
        delivered += result.deliver
    assert seqs(delivered) == [1, 2, 3]
    assert state.resume_cursors() == [(7, 3)]


def test_duplicate_is_dropped() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 0)])
    state.on_message(Msg(7, 1), now=0.0)
    again = state.on_message(Msg(7, 1), now=0.0)
    assert again.deliver == [] and again.duplicates == 1


def test_duplicate_of_a_buffered_message_is_dropped() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 0)])
    state.on_message(Msg(7, 3), now=0.0)
    again = state.on_message(Msg(7, 3), now=0.0)
    assert again.duplicates == 1 and again.fetch == []
    assert state.buffered_count(7) == 1


def test_gap_asks_for_the_range_after_the_cursor_once_and_delivers_in_order_when_filled() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 2)])
    first = state.on_message(Msg(7, 5), now=0.0)
    assert first.deliver == []
    assert first.fetch == [FetchRequest(conversation_id=7, after_seq=2)]
    # A second out-of-order push while the fetch is outstanding asks nothing more.
    assert state.on_message(Msg(7, 6), now=0.0).fetch == []
    page = state.on_page(7, [Msg(7, 3), Msg(7, 4), Msg(7, 5)], has_more=False, now=0.0)
    assert seqs(page.deliver) == [3, 4, 5, 6]
    assert page.duplicates == 1  # 5 was already buffered
    assert page.fetch == []
    assert state.resume_cursors() == [(7, 6)]


def test_a_page_with_more_to_come_asks_for_the_next_one() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 0)])
    state.on_message(Msg(7, 4), now=0.0)
    page = state.on_page(7, [Msg(7, 1), Msg(7, 2)], has_more=True, now=0.0)
    assert seqs(page.deliver) == [1, 2]
    assert page.fetch == [FetchRequest(7, 2)]
    last = state.on_page(7, [Msg(7, 3), Msg(7, 4)], has_more=False, now=0.0)
    assert seqs(last.deliver) == [3, 4] and last.fetch == []


def test_a_fetch_without_progress_skips_the_missing_seqs_instead_of_asking_forever() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 1)])
    state.on_message(Msg(7, 4), now=0.0)
    page = state.on_page(7, [], has_more=False, now=0.0)
    assert seqs(page.deliver) == [4]
    assert page.skipped == 2
    assert page.fetch == []


def test_unknown_conversation_starts_at_its_first_message() -> None:
    state: SyncState[Msg] = SyncState()
    result = state.on_message(Msg(9, 41), now=0.0)
    assert seqs(result.deliver) == [41] and result.fetch == []


def test_during_resume_pushes_of_unknown_conversations_wait_for_the_pages() -> None:
    state: SyncState[Msg] = SyncState()
    state.begin_resume()
    assert state.on_message(Msg(9, 10), now=0.0).deliver == []
    page = state.on_page(9, [Msg(9, 8), Msg(9, 9)], has_more=False, now=0.0, answers_fetch=False)
    assert seqs(page.deliver) == [8, 9, 10]
    done = state.end_resume(now=0.0)
    assert done.deliver == [] and done.fetch == []


def test_end_of_resume_starts_page_less_conversations_at_what_they_buffered() -> None:
    state: SyncState[Msg] = SyncState()
    state.begin_resume()
    state.on_message(Msg(9, 11), now=0.0)
    state.on_message(Msg(9, 10), now=0.0)
    done = state.end_resume(now=0.0)
    assert seqs(done.deliver) == [10, 11]


def test_during_resume_gaps_in_known_conversations_wait_for_the_resume_pages() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 1)])
    state.on_disconnect()
    state.begin_resume()
    assert state.on_message(Msg(7, 3), now=0.0).fetch == []
    page = state.on_page(7, [Msg(7, 2)], has_more=False, now=0.0, answers_fetch=False)
    assert seqs(page.deliver) == [2, 3]
    assert state.end_resume(now=0.0).fetch == []


def test_disconnect_forgets_outstanding_fetches_so_the_gap_is_asked_again() -> None:
    state: SyncState[Msg] = SyncState(cursors=[(7, 0)])
    assert state.on_message(Msg(7, 3), now=0.0).fetch == [FetchRequest(7, 0)]
    state.on_disconnect()
    state.begin_resume()
    assert state.end_resume(now=0.0).fetch == [FetchRequest(7, 0)]


def test_acks_are_batched_by_time() -> None:
    state: SyncState[Msg] = SyncState(AckPolicy(interval_ms=100, max_messages=1000))
    state.on_message(Msg(1, 1), now=10.0)
    state.on_message(Msg(1, 2), now=10.02)
    state.on_message(Msg(2, 5), now=10.05)
    assert state.next_ack_at() == 10.1
    assert state.due_acks(now=10.09) == []
    assert state.due_acks(now=10.1) == [(1, 2), (2, 5)]
    assert state.due_acks(now=20.0) == []
    assert state.next_ack_at() is None


def test_acks_are_batched_by_count() -> None:
    state: SyncState[Msg] = SyncState(AckPolicy(interval_ms=10_000, max_messages=3))
    for seq in (1, 2):
        state.on_message(Msg(1, seq), now=0.0)
    assert state.due_acks(now=0.0) == []
    state.on_message(Msg(1, 3), now=0.0)
    assert state.due_acks(now=0.0) == [(1, 3)]


def test_acks_carry_only_the_contiguous_cursor() -> None:
    state: SyncState[Msg] = SyncState(AckPolicy(interval_ms=0), cursors=[(1, 0)])
    state.on_message(Msg(1, 1), now=0.0)
    state.on_message(Msg(1, 3), now=0.0)
    assert state.due_acks(now=1.0) == [(1, 1)]
    assert state.take_acks() == []
