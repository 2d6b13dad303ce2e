"""SendOrder's record of sends the edge answered UNAVAILABLE itself (edge/send_order.py): a
later answer from their router is late; a session ending forgets only its own records, and the
bound forgets the oldest record, whichever session it belongs to."""

from __future__ import annotations

from edge.send_order import SendOrder


def test_a_session_ending_forgets_its_own_given_up_sends_and_no_other() -> None:
    order = SendOrder()
    order.gave_up(1, 10, "router-a")
    order.gave_up(2, 10, "router-a")
    order.gave_up(1, 11, "router-b")
    order.drop_session(1)
    assert not order.late(1, 10, "router-a")
    assert not order.late(1, 11, "router-b")
    assert not order.awaits_answers(1)
    assert order.late(2, 10, "router-a")
    assert order.awaits_answers(2)


def test_beyond_the_bound_the_oldest_record_is_forgotten_and_its_session_with_it() -> None:
    order = SendOrder(max_given_up=2)
    order.gave_up(1, 10, "router-a")
    order.gave_up(2, 20, "router-a")
    order.gave_up(3, 30, "router-a")  # forgets (1, 10), session 1's only record
    assert not order.late(1, 10, "router-a")
    assert not order.awaits_answers(1)
    assert order.late(2, 20, "router-a") and order.late(3, 30, "router-a")
    order.gave_up(2, 20, "router-b")  # the same send given up again: newest now, not twice
    order.gave_up(4, 40, "router-a")  # forgets (3, 30), now the oldest
    assert not order.late(3, 30, "router-a")
    assert order.late(2, 20, "router-b") and order.late(4, 40, "router-a")
    order.reused(2, 20)
    assert not order.awaits_answers(2)
